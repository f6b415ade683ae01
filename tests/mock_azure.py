"""A mock of Azure OpenAI, built on tests/mock_openai.py's handler (Azure speaks OpenAI's wire format).

What Azure adds, as its documentation shows it: deployment URLs with a required ``api-version``, the
``api-key`` header (or an Entra ID bearer token), ``prompt_filter_results`` on answers (and as a first,
choice-less stream chunk), ``content_filter_results`` on each choice, the prompt filter's 400
``content_filter`` error, numeric-string error codes, and ``retry-after-ms`` on throttling.

Usage::

    mock = MockAzure().start()
    mock.base_url                  # "http://127.0.0.1:<port>" (the resource endpoint)
    mock.requests()                # as MockOpenAI's

Deployment names select the behaviour: those of mock_openai (``mock-gpt``, ``mock-429``, ``mock-500``,
``mock-no-usage``, ``mock-embed``...) plus ``mock-prompt-filtered`` (400 content_filter) and
``mock-answer-filtered`` (200, finish_reason content_filter).
"""

from __future__ import annotations

from typing import Any

from mock_openai import RETRY_AFTER_SECONDS, MockHandler, MockOpenAI

API_KEY = "azure-key-3b1f9c0d"
AD_TOKEN = "eyJ0eXAiOiJKV1Qi.mock-entra-token"
# Before this API version, Azure rejects stream_options (usage in streams came later).
STREAM_USAGE_SINCE = "2024-08-01"
_SAFE = {"filtered": False, "severity": "safe"}
CHOICE_FILTERS = {"hate": _SAFE, "self_harm": _SAFE, "sexual": _SAFE, "violence": _SAFE}
PROMPT_FILTERS = [{"prompt_index": 0, "content_filter_results": CHOICE_FILTERS}]


class AzureHandler(MockHandler):
    server_version = "MockAzureOpenAI/1.0"
    _prompt_chunk_sent = False

    def _authorized(self) -> bool:
        if (
            self.headers.get("api-key") == API_KEY
            or self.headers.get("Authorization") == f"Bearer {AD_TOKEN}"
        ):
            return True
        message = "Access denied due to invalid subscription key or wrong API endpoint."
        self._send_json(401, {"error": {"code": "401", "message": message}})
        return False

    def do_POST(self) -> None:
        self._prompt_chunk_sent = False  # one handler serves every request of a keep-alive connection
        body_bytes = self._read_body()
        body = self._record(body_bytes)
        path, _, query = self.path.partition("?")
        parts = path.strip("/").split("/")  # openai/deployments/<name>/<operation...>
        version = next((q[12:] for q in query.split("&") if q.startswith("api-version=")), None)
        if len(parts) < 4 or parts[:2] != ["openai", "deployments"] or not version:
            self._send_json(404, {"error": {"code": "404", "message": "Resource not found"}})
            return
        if not self._authorized() or body is None:
            return
        deployment, operation = parts[2], "/".join(parts[3:])
        body["model"] = deployment  # Azure serves the deployment in the path, whatever the body says
        if body.get("stream_options") is not None and version[:10] < STREAM_USAGE_SINCE:
            error = {"code": None, "message": "Unrecognized request argument supplied: stream_options"}
            self._send_json(400, {"error": {**error, "type": "invalid_request_error", "param": None}})
            return
        try:
            if operation == "chat/completions":
                self._azure_chat(deployment, body)
            elif operation == "embeddings":
                self._embeddings(body)
            else:
                self._not_found()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _azure_chat(self, deployment: str, body: dict[str, Any]) -> None:
        if deployment == "mock-prompt-filtered":
            message = (
                "The response was filtered due to the prompt triggering Azure OpenAI's content management "
                "policy. Please modify your prompt and retry."
            )
            inner = {
                "code": "ResponsibleAIPolicyViolation",
                "content_filter_result": {
                    **CHOICE_FILTERS,
                    "violence": {"filtered": True, "severity": "high"},
                },
            }
            error = {
                "message": message,
                "type": None,
                "param": "prompt",
                "code": "content_filter",
                "status": 400,
                "innererror": inner,
            }
            self._send_json(400, {"error": error})
            return
        if deployment == "mock-429":
            message = (
                "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have "
                "exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after 7 seconds."
            )
            retry = {
                "retry-after": RETRY_AFTER_SECONDS,
                "retry-after-ms": f"{int(RETRY_AFTER_SECONDS) * 1000}",
            }
            self._send_json(429, {"error": {"code": "429", "message": message}}, retry)
            return
        self._chat(body)

    # Azure's additions are put on what the OpenAI handler sends.

    def _send_json(self, status: int, obj: Any, extra_headers: dict[str, str] | None = None) -> None:
        if status == 200 and isinstance(obj, dict) and obj.get("object") == "chat.completion":
            obj["prompt_filter_results"] = PROMPT_FILTERS
            for choice in obj["choices"]:
                choice["content_filter_results"] = CHOICE_FILTERS
                if obj["model"] == "mock-answer-filtered":
                    choice["message"]["content"] = None
                    choice["finish_reason"] = "content_filter"
                    choice["content_filter_results"] = {
                        **CHOICE_FILTERS,
                        "sexual": {"filtered": True, "severity": "medium"},
                    }
        super()._send_json(status, obj, extra_headers)

    def _send_event(self, obj: Any) -> None:
        if isinstance(obj, dict) and not self._prompt_chunk_sent:
            # Azure's first chunk: no choices, no id, only the prompt's filter results.
            self._prompt_chunk_sent = True
            first = {
                "choices": [],
                "created": 0,
                "id": "",
                "model": "",
                "object": "",
                "prompt_filter_results": PROMPT_FILTERS,
            }
            super()._send_event(first)
        if isinstance(obj, dict) and obj.get("choices"):
            for choice in obj["choices"]:
                choice["content_filter_results"] = {} if choice.get("finish_reason") else CHOICE_FILTERS
        super()._send_event(obj)


class MockAzure(MockOpenAI):
    def __init__(self) -> None:
        super().__init__(api_key=API_KEY)
        self.server.RequestHandlerClass = AzureHandler

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"
