"""The durable workflow engine: runs instances by replaying `run(event, step)`.

Contract used by the server (runtime/management.py, runtime/binding.py) and by tests/bench.
Every method is a coroutine on the server's event loop; every error is a `WorkflowError`
subclass from runtime/errors.py carrying `http_status` and `code`.

    spec = WorkflowSpec(name="my-workflow", binding="MY_WORKFLOW", class_name="MyWorkflow",
                        script_name="my-worker", cls=MyWorkflow, max_steps=10_000)
    store = await Store.open(state_dir)                # runtime/storage.py; locks the dir
    engine = Engine(store, [spec], EngineOptions(max_concurrency=10_000, cpu_ms=30_000,
                                                 implicit_dependencies=True))
    engine.env = env                                   # self.env of workflow classes (bindings, vars)
    await engine.start()                               # recovery: resumes in-flight instances
    ...
    await engine.close()                               # interrupts running steps; store stays open
    await store.close()

Methods (workflow = workflow *name*, id = instance id):
    engine.specs -> dict[str, WorkflowSpec]            # in config order
    engine.spec(workflow) -> WorkflowSpec              # WorkflowNotFoundError
    await create(workflow, id=None, params=None) -> str            # InstanceExistsError, InvalidInstanceIdError,
                                                                    # PayloadTooLargeError
    await create_batch(workflow, [{"id"?, "params"?}, ...]) -> list[str]   # existing ids skipped
    await status(workflow, id) -> {"status", "error", "output"}    # InstanceNotFoundError
    await describe(workflow, id) -> dict                           # API instance details (no "id"):
        {"status","params","queued","start","end","output","error","steps":[...],"step_count"}
        step objects per type exactly as reference/wrangler-local-dev.md §2.3, names "<name>-<count>";
        times ISO strings; a `do` step waiting to retry has "retry_at" (ISO) as an extra key.
    await list_instances(workflow, status=None, date_start_ms=None, date_end_ms=None,
                         page=1, per_page=25) -> (list[{"id","status","created_on"}], total_count)
        newest first by creation time; date filters on creation time, inclusive.
    await status_counts(workflow) -> {"queued":0,"running":0,"paused":0,"errored":0,"terminated":0,
                                      "complete":0,"waiting":0,"waitingForPause":0}   (all instances)
    await latest(workflow) -> str | None                           # newest instance id
    await pause(workflow, id) -> str      # status after: "paused" or "waitingForPause"
    await resume(workflow, id) -> str     # "running" / "queued"
    await terminate(workflow, id) -> str  # "terminated"
    await restart(workflow, id, from_step=None) -> str   # from_step {"name", "count"?, "type"?: do|sleep|waitForEvent}
                                                         # StepNotFoundError (409) when not in history
    await send_event(workflow, id, type, payload) -> None   # InvalidInstanceIdError for a bad type
    await delete(workflow, id) -> None
    await delete_all(workflow) -> int     # number of instances removed
    await wait_for(workflow, id, statuses={"complete","errored","terminated"}, timeout=10.0) -> status dict

Invalid transitions raise InvalidTransitionError naming the current status.
"""
