"""Terminal rendering for the `workflows` commands (tables, colours, --json, ✘/▲ lines).

`pyflows init` prints its own lines (cli/commands/init.py) and `pyflows dev` its console
(cli/views/dev_console.py); the dev server's request log goes to stdout from the server process.
"""

from __future__ import annotations

import os
import sys

from pyflows.runtime.protocol.console import color as _color
from pyflows.runtime.protocol.console import error_line as error_line  # re-exported: the CLI's one place
from pyflows.runtime.protocol.console import warning_line as warning_line

# --- Wrangler-style output for `pyflows workflows ...` --------------------------------------------
#
# Layout follows `wrangler workflows ...` (4.164) byte for byte where it can:
# a banner unless --json, info lines on stdout, warnings and errors on stderr, 4-space JSON, box tables
# with a rule between rows. Rich is imported only when a table is drawn (it costs ~40 ms to import).

BANNER_ENV = "PYFLOWS_HIDE_BANNER"


def banner_text(version: str) -> str:
    """`\\n ⛅️ pyflows <version>\\n` and a rule as long as the title, like Wrangler's banner."""
    title = f" ⛅️ pyflows {version}"
    # Wrangler sizes its rule by JavaScript string length (UTF-16 units): the emoji counts 2.
    rule = "─" * (len(title.encode("utf-16-le")) // 2)
    return f"\n{title}\n{rule}\n"


def print_banner() -> None:
    """The banner on stdout, unless PYFLOWS_HIDE_BANNER is set (WRANGLER_HIDE_BANNER's twin)."""
    if os.environ.get(BANNER_ENV, "").lower() in ("", "0", "false"):
        from pyflows import __version__

        sys.stdout.write(banner_text(__version__))


def info(line: str = "") -> None:
    sys.stdout.write(line + "\n")


def warn(message: str) -> None:
    sys.stderr.write(warning_line(message))


def json_text(value: object) -> str:
    """JSON.stringify(value, null, 4): what `--json` prints."""
    import json

    return json.dumps(value, indent=4, ensure_ascii=False) + "\n"


def print_json(value: object) -> None:
    sys.stdout.write(json_text(value))


def red(text: str) -> str:
    return f"\x1b[31m{text}\x1b[39m" if _color(sys.stdout) else text


def labelled(pairs: list[tuple[str, str]], *, indent: int = 0) -> str:
    """Wrangler's `formatLabelledValues`: `Label:` padded so every value starts in one column.

    Continuation lines of a multi-line value are indented to that column too.
    """
    if not pairs:
        return ""
    width = max(len(label) for label, _ in pairs) + 3  # the colon and two spaces
    pad = " " * indent
    lines = []
    for label, value in pairs:
        first, *rest = str(value).split("\n")
        lines.append(f"{pad}{(label + ':').ljust(width)}{first}")
        lines.extend(f"{pad}{' ' * width}{line}" for line in rest)
    return "\n".join(lines)


def table(headers: list[str], rows: list[list[str]], *, red_columns: tuple[str, ...] = ()) -> str:
    """A box-drawn table with a rule between rows (Wrangler's `logger.table`): rich's `box.SQUARE`
    with `show_lines`, one space of padding, never wrapped (like cli-table3, a wide table stays one
    line per row; a cell's own newlines make a taller row).

    Drawn here rather than by rich.console/rich.table, which cost ~40 ms of import on every listing;
    cell widths (emoji, CJK) still come from rich's `cell_len`. Colour (blue headers, grey borders,
    red errors) only when stdout is a terminal.
    """
    from rich.cells import cell_len

    color = _color(sys.stdout)
    columns = list(zip(headers, *rows, strict=True)) if rows else [(h,) for h in headers]
    widths = [max(cell_len(line) for cell in column for line in cell.split("\n")) for column in columns]

    def border(text: str) -> str:
        return f"\x1b[90m{text}\x1b[0m" if color else text

    def rule(left: str, middle: str, right: str) -> str:
        return border(left + middle.join("─" * (w + 2) for w in widths) + right) + "\n"

    def line(cells: list[str], styles: list[str]) -> str:
        split = [cell.split("\n") for cell in cells]
        out = []
        for i in range(max(len(lines) for lines in split)):
            parts = []
            for lines, width, style in zip(split, widths, styles, strict=True):
                text = lines[i] if i < len(lines) else ""
                padded = text + " " * (width - cell_len(text))
                parts.append(f" {style}{padded}\x1b[0m " if style and text else f" {padded} ")
            out.append(border("│") + border("│").join(parts) + border("│") + "\n")
        return "".join(out)

    header_style = "\x1b[34m" if color else ""
    row_styles = ["\x1b[31m" if color and header in red_columns else "" for header in headers]
    drawn = [rule("┌", "┬", "┐"), line(headers, [header_style] * len(headers)), rule("├", "┼", "┤")]
    for i, row in enumerate(rows):
        if i:
            drawn.append(rule("├", "┼", "┤"))
        drawn.append(line(row, row_styles))
    drawn.append(rule("└", "┴", "┘"))
    return "".join(drawn)


def print_table(headers: list[str], rows: list[list[str]], *, red_columns: tuple[str, ...] = ()) -> None:
    sys.stdout.write(table(headers, rows, red_columns=red_columns))
