import json
from urllib.parse import parse_qs, urlparse

from workers import Response, WorkerEntrypoint, WorkflowEntrypoint


class ApprovalWorkflow(WorkflowEntrypoint):
    """Submit a request, wait for a human to approve or reject it, then act on the answer."""

    async def run(self, event, step):
        params = event["payload"]

        @step.do("submit request")
        async def submit_request():
            # Mock: in a real Workflow you would store the request or notify a reviewer here.
            return {
                "title": params.get("title", "Untitled request"),
                "requestedBy": params.get("requestedBy", "anonymous"),
            }

        request = await submit_request()

        # The instance waits here, at no cost, until an "approval" event arrives
        # (POST /approve or /reject, or `pyflows workflows instances send-event`).
        # If nobody answers within the timeout, wait_for_event raises.
        try:
            approval = await step.wait_for_event(
                "wait for approval", "approval", timeout=params.get("timeout", "1 hour")
            )
        except Exception:

            @step.do("expire request")
            async def expire_request():
                return {"title": request["title"], "decision": "timed out"}

            return await expire_request()

        decision = approval["payload"]

        if decision.get("approved"):

            @step.do("carry out request")
            async def carry_out_request():
                # Mock: do the approved work here (publish, pay, deploy, ...).
                return {
                    "title": request["title"],
                    "decision": "approved",
                    "comment": decision.get("comment", ""),
                }

            return await carry_out_request()

        @step.do("notify requester")
        async def notify_requester():
            # Mock: tell the requester why their request was turned down.
            return {
                "title": request["title"],
                "decision": "rejected",
                "comment": decision.get("comment", ""),
            }

        return await notify_requester()


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        url = urlparse(request.url)
        query = parse_qs(url.query)
        instance_id = query.get("instanceId", [None])[0]

        # POST / {"title": ..., "requestedBy": ..., "timeout": "1 hour"}: submit a request.
        if url.path == "/" and request.method == "POST":
            params = await _json_body(request)
            instance = await self.env.APPROVAL_WORKFLOW.create({"params": params})
            return Response.json({"instanceId": instance.id})

        if instance_id is None:
            return Response(
                "POST / to submit a request, then GET /?instanceId=<id>, "
                "POST /approve?instanceId=<id> or POST /reject?instanceId=<id>\n",
                status=400,
            )

        instance = await self.env.APPROVAL_WORKFLOW.get(instance_id)

        # GET /?instanceId=<id>: the status of a request.
        if url.path == "/":
            return Response.json(await instance.status())

        # POST /approve?instanceId=<id> or /reject?instanceId=<id>, body {"comment": ...}:
        # send the event the Workflow is waiting for.
        if url.path in ("/approve", "/reject") and request.method == "POST":
            body = await _json_body(request)
            payload = {"approved": url.path == "/approve", "comment": body.get("comment", "")}
            await instance.send_event({"type": "approval", "payload": payload})
            return Response.json({"instanceId": instance_id, "sent": payload})

        return Response("Not found", status=404)


async def _json_body(request):
    text = await request.text()
    return json.loads(text) if text else {}
