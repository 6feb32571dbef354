"""The text of error lines, by language: what a Go, Java, Python, Node.js or C# service
actually prints. Every function returns (message, error.type) with fresh ids and numbers.
"""

from __future__ import annotations

import random
from datetime import datetime

from healer.sim.physics import ServiceTick
from healer.sim.topology import PoolSpec, ServiceSpec

PORTS = {"redis-cart": 6379, "frontend": 8080}


def _ip(rng: random.Random) -> str:
    return f"10.{rng.randint(0, 3)}.{rng.randint(0, 255)}.{rng.randint(2, 254)}"


def _uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


def _port(name: str) -> int:
    return PORTS.get(name, 3550 + sum(map(ord, name)) % 400)


_ASPNET_RESET = "Microsoft.AspNetCore.Connections.ConnectionResetException"
_NOISE = {
    "go": (
        ("http: superfluous response.WriteHeader call from main.(*logHandler).ServeHTTP "
         "(middleware.go:{n})", None),
        ("request canceled by client {ip}:{port}: context canceled", "context.Canceled"),
        ("retrying rpc to {svc} after transient error (attempt 2 of 3): "
         "read tcp {ip}:{port}: connection reset by peer", None),
        ("failed to export spans: rpc error: code = Unavailable desc = "
         "connection closed before server preface received", None),
    ),
    "java": (
        ("org.apache.catalina.connector.ClientAbortException: java.io.IOException: "
         "Broken pipe (client {ip}:{port})", "org.apache.catalina.connector.ClientAbortException"),
        ("Deprecated API /api/v1/ads?ctx={n} called by {ip}; use /api/v2/ads", None),
        ("Cache miss for key ads:category:{n}, loading from origin took {ms}ms", None),
    ),
    "python": (
        ("BrokenPipeError: [Errno 32] Broken pipe while writing response to {ip}:{port}",
         "BrokenPipeError"),
        ("cache miss for key recs:user:{uuid}; recomputing ({ms} ms)", None),
        ("DeprecationWarning logged as error: pkg_resources is deprecated as an API "
         "(request {uuid})", None),
    ),
    "nodejs": (
        ("Error: aborted by client {ip}:{port} after {ms}ms", "Error"),
        ("retrying fetch of exchange rates (attempt 2): ECONNRESET {ip}:{port}", None),
        ("[DEP0005] DeprecationWarning: Buffer() is deprecated (request {uuid})", None),
    ),
    "csharp": (
        ("Microsoft.AspNetCore.Connections.ConnectionResetException: The client has "
         "disconnected (connection id {n})", _ASPNET_RESET),
        ("Cache miss for cart {uuid}; read through to redis took {ms}ms", None),
    ),
    "c": (
        ("Client id={n} addr={ip}:{port} closed connection", None),
        ("Timeout connecting to the MASTER... {ip}:{port} (retrying)", None),
    ),
}  # fmt: skip


def _fill(template: str, rng: random.Random) -> str:
    return template.format(
        n=rng.randint(1, 99999),
        ip=_ip(rng),
        port=rng.randint(32768, 60999),
        ms=rng.randint(5, 4000),
        uuid=_uuid(rng),
        svc=rng.choice(("currencyservice", "productcatalogservice", "cartservice")),
    )


def noise(language: str, rng: random.Random) -> tuple[str, str | None]:
    template, error_type = rng.choice(_NOISE.get(language, _NOISE["go"]))
    return _fill(template, rng), error_type


def _java_npe(service: str, rng: random.Random) -> str:
    cls = "".join(part.capitalize() for part in service.replace("service", " service").split())
    return (
        f'Exception in thread "grpc-default-executor-{rng.randint(0, 64)}" '
        f'java.lang.NullPointerException: Cannot invoke "java.util.List.size()" because '
        f'"items" is null\n\tat hipstershop.{cls}.handle({cls}.java:214)\n'
        f"\tat hipstershop.{cls}$Impl.process({cls}.java:97)\n"
        "\tat io.grpc.stub.ServerCalls$UnaryServerCallHandler$UnaryServerCallListener"
        ".onHalfClose(ServerCalls.java:182)\n"
        "\tat io.grpc.internal.ServerImpl$JumpToApplicationThreadServerStreamListener"
        "$1HalfClosed.runInContext(ServerImpl.java:355)\n"
        "\tat java.base/java.util.concurrent.ThreadPoolExecutor.runWorker"
        "(ThreadPoolExecutor.java:1136)"
    )


def crash(service: str, language: str, rng: random.Random) -> tuple[str, str]:
    """The stack trace of a version that breaks on some requests."""
    if language == "java":
        return _java_npe(service, rng), "java.lang.NullPointerException"
    if language == "python":
        return (
            f"error handling request {_uuid(rng)}\nTraceback (most recent call last):\n"
            f'  File "/app/{service}/server.py", line 118, in Handle\n'
            "    rate = self.rates[request.currency_code]\n"
            "KeyError: 'currency_code'",
            "KeyError",
        )
    if language == "nodejs":
        return (
            f"conversion request {_uuid(rng)} failed: TypeError: Cannot read properties of "
            "undefined (reading 'units')\n    at convert (/usr/src/app/server.js:142:31)\n"
            "    at Object.getConversion (/usr/src/app/server.js:96:5)",
            "TypeError",
        )
    if language == "csharp":
        return (
            f"Error handling request for user {_uuid(rng)}: System.NullReferenceException: "
            "Object reference not set to an instance of an object.\n"
            "   at cartservice.cartstore.RedisCartStore.GetCartAsync(String userId) in "
            "/app/cartstore/RedisCartStore.cs:line 181\n"
            "   at cartservice.services.CartService.GetCart(GetCartRequest request, "
            "ServerCallContext context) in /app/services/CartService.cs:line 44",
            "System.NullReferenceException",
        )
    return (
        "panic recovered: runtime error: invalid memory address or nil pointer dereference\n"
        f"goroutine {rng.randint(100, 99999)} [running]:\n"
        f"main.(*{service.replace('service', '')}Server).Handle(0xc000{rng.getrandbits(24):06x}, "
        f"{{0x1a2b3c0, 0xc000{rng.getrandbits(24):06x}}})\n\t/src/server.go:231 +0x1f4\n"
        "google.golang.org/grpc.(*Server).processUnaryRPC(...)\n"
        "\t/go/pkg/mod/google.golang.org/grpc@v1.64.0/server.go:1379 +0xdc5",
        "runtime.Error",
    )


_TOO_MANY = "sorry, too many clients already"
_RESERVED = "remaining connection slots are reserved for non-replication superuser connections"


def too_many_clients(
    language: str,
    pool: PoolSpec | None,
    rng: random.Random,
    *,
    reserved: bool = False,
    engine: str = "postgresql",
) -> tuple[str, str]:
    """The database refusing a new connection; `reserved`: PostgreSQL has only its
    superuser reserve left."""
    database = pool.database if pool else "db"
    if engine == "mysql":
        return _mysql_too_many(language, database, rng)
    host = f"{database}-postgresql.{database}.svc.cluster.local"
    why = _RESERVED if reserved else _TOO_MANY
    if language == "java":
        return (
            f"HikariPool-1 - Cannot acquire connection from data source "
            f"(attempt {rng.randint(1, 400)})\norg.postgresql.util.PSQLException: "
            f"FATAL: {why}",
            "org.postgresql.util.PSQLException",
        )
    return (
        f'psycopg2.OperationalError: connection to server at "{host}" ({_ip(rng)}), '
        f"port 5432 failed: FATAL:  {why}",
        "psycopg2.OperationalError",
    )


def _mysql_too_many(language: str, database: str, rng: random.Random) -> tuple[str, str]:
    if language == "java":
        return (
            f"HikariPool-1 - Cannot acquire connection from data source "
            f"(attempt {rng.randint(1, 400)})\njava.sql.SQLNonTransientConnectionException: "
            "Data source rejected establishment of connection,  message from server: "
            '"Too many connections"',
            "java.sql.SQLNonTransientConnectionException",
        )
    return (
        f"pymysql.err.OperationalError: (1040, 'Too many connections') "
        f"[host {database}.{database}.svc.cluster.local ({_ip(rng)}), port 3306]",
        "pymysql.err.OperationalError",
    )


def overload(
    language: str, kind: str, spec: ServiceSpec, rng: random.Random
) -> tuple[str, str | None]:
    """A request that ran out of time inside a saturated service."""
    ms = int(spec.timeout_s * 1000) + rng.randint(0, 250)
    if language == "java":
        if kind == "workers":
            return (
                "java.util.concurrent.RejectedExecutionException: Task rejected from "
                f"ThreadPoolExecutor[Running, pool size = {spec.workers}, active threads = "
                f"{spec.workers}, queued tasks = {rng.randint(200, 5000)}]",
                "java.util.concurrent.RejectedExecutionException",
            )
        return (f"java.util.concurrent.TimeoutException: request took {ms} ms",
                "java.util.concurrent.TimeoutException")  # fmt: skip
    if language == "python":
        return f"[CRITICAL] WORKER TIMEOUT (pid:{rng.randint(7, 32000)}) after {ms}ms", None
    if language == "nodejs":
        return f"Error: request timeout of {ms}ms exceeded (event loop lag {ms // 3}ms)", "Error"
    if language == "csharp":
        return "System.TimeoutException: The operation has timed out.", "System.TimeoutException"
    return (
        f"request {_uuid(rng)} failed after {ms}ms: context deadline exceeded",
        "context.DeadlineExceeded",
    )


def upstream(
    language: str, callee: str, callee_tick: ServiceTick, rng: random.Random
) -> tuple[str, str, int]:
    """A call to a callee that failed, as the caller logs it."""
    target = f"{callee}:{_port(callee)}"
    codes = callee_tick.codes or {500: 1.0}
    code = rng.choices(list(codes), weights=list(codes.values()))[0]
    if not callee_tick.up or code == 503:
        status = "Unavailable"
        desc = (
            "upstream connect error or disconnect/reset before headers. "
            "reset reason: connection failure"
        )
    elif code == 504:
        status, desc = "DeadlineExceeded", "context deadline exceeded"
    else:
        status, desc = "Internal", f"{callee} returned an error (request {_uuid(rng)})"
    upper = {"Unavailable": "UNAVAILABLE", "DeadlineExceeded": "DEADLINE_EXCEEDED"}
    enum = upper.get(status, "INTERNAL")
    if language == "java":
        text = f"io.grpc.StatusRuntimeException: {enum}: {desc}"
        return f"call to {target} failed: {text}", "io.grpc.StatusRuntimeException", code
    if language == "python":
        desc = "Deadline Exceeded" if status == "DeadlineExceeded" else desc
        return (
            f"call to {target} failed: <_InactiveRpcError of RPC that terminated with:\n"
            f'\tstatus = StatusCode.{enum}\n\tdetails = "{desc}"\n'
            f'\tdebug_error_string = "UNKNOWN:Error received from peer '
            f'ipv4:{_ip(rng)}:{_port(callee)}">',
            "grpc._channel._InactiveRpcError",
            code,
        )
    return (
        f"failed to call {target} (request {_uuid(rng)}): rpc error: code = {status} desc = {desc}",
        f"grpc.{status}",
        code,
    )


def reset(language: str, rng: random.Random) -> tuple[str, str | None]:
    return (
        f"read tcp {_ip(rng)}:{rng.randint(32768, 60999)}->{_ip(rng)}:{rng.randint(1000, 9999)}: "
        "read: connection reset by peer",
        "syscall.ECONNRESET" if language == "go" else None,
    )


def internal(language: str, rng: random.Random) -> tuple[str, str | None]:
    return (
        f"unexpected error handling request {_uuid(rng)}: lock wait timeout on "
        f"key order:{rng.randint(1000, 999999)}",
        "InternalError",
    )


def external_api(language: str, host: str, rng: random.Random) -> tuple[str, str]:
    """A call to an API outside the cluster that failed, as the service logs it."""
    path = rng.choice(("/v1/charges", "/v2/quotes", "/v1/rates", "/v1/verify"))
    url = f"https://{host}{path}"
    ms = rng.randint(20, 9000)
    status = rng.choice((502, 503, 503, 504))
    if language == "java":
        return (
            f"org.springframework.web.client.HttpServerErrorException$ServiceUnavailable: "
            f'{status} Service Unavailable on POST request for "{url}" after {ms} ms',
            "org.springframework.web.client.HttpServerErrorException",
        )
    if language == "python":
        return (
            f"requests.exceptions.HTTPError: {status} Server Error: Service Unavailable "
            f"for url: {url}?request_id={_uuid(rng)}",
            "requests.exceptions.HTTPError",
        )
    if language == "nodejs":
        return (
            f"AxiosError: Request failed with status code {status} (POST {url}, "
            f"request {_uuid(rng)}, {ms}ms)",
            "AxiosError",
        )
    if language == "csharp":
        return (
            "System.Net.Http.HttpRequestException: Response status code does not indicate "
            f"success: {status} (Service Unavailable). POST {url}",
            "System.Net.Http.HttpRequestException",
        )
    return (
        f'request {_uuid(rng)}: Post "{url}": unexpected status {status} from upstream '
        f"after {ms}ms",
        "ExternalAPIError",
    )


def out_of_memory(language: str, spec: ServiceSpec, rng: random.Random) -> tuple[str, str]:
    """The last line a container writes as it runs out of memory."""
    limit = int(spec.memory_limit_mb)
    if language == "java":
        return (
            f'Exception in thread "grpc-default-executor-{rng.randint(0, 64)}" '
            "java.lang.OutOfMemoryError: Java heap space\n\tat java.base/java.util.Arrays"
            ".copyOf(Arrays.java:3537)\n\tat java.base/java.util.ArrayList.grow"
            "(ArrayList.java:237)",
            "java.lang.OutOfMemoryError",
        )
    if language == "nodejs":
        return (
            f"<--- Last few GCs ---> [1:0x{rng.getrandbits(40):010x}] {rng.randint(10**5, 10**7)} "
            f"ms: Mark-Compact {limit - rng.randint(1, 9)}.{rng.randint(0, 9)} "
            f"({limit}.0) -> {limit - rng.randint(1, 9)}.{rng.randint(0, 9)} MB\n"
            "FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory",
            "FatalError",
        )
    if language == "csharp":
        return (
            "Unhandled exception. System.OutOfMemoryException: Exception of type "
            "'System.OutOfMemoryException' was thrown.",
            "System.OutOfMemoryException",
        )
    if language == "python":
        return (
            f"[CRITICAL] WORKER TIMEOUT (pid:{rng.randint(7, 32000)})\n"
            f"[ERROR] Worker (pid:{rng.randint(7, 32000)}) was sent SIGKILL! "
            "Perhaps out of memory?",
            "MemoryError",
        )
    return (
        "fatal error: runtime: out of memory\n\nruntime stack:\n"
        "runtime.throw({0x1a2b3c4, 0x16})\n\t/usr/local/go/src/runtime/panic.go:1023 +0x5c\n"
        f"runtime.sysMapOS(0xc0{rng.getrandbits(32):08x}, 0x4000000)",
        "runtime.Error",
    )


def delayed_access(spec: ServiceSpec, rng: random.Random, at: datetime) -> str:
    """The inbound proxy's access log line for a request a fault delayed past its deadline."""
    stamp = at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"
    ms = int(spec.timeout_s * 1000) + rng.randint(0, 40)
    service = spec.name
    port = _port(service)
    return (
        f'[{stamp}] "POST /{service}.v1/Handle HTTP/2" 504 DI,UT response_timeout - "-" '
        f'0 24 {ms} - "-" "grpc-go/1.64.0" "{_uuid(rng)}" "{service}:{port}" '
        f'"{_ip(rng)}:{port}" inbound|{port}||'
    )
