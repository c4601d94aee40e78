// The errors of the sandbox layer. Each is a class with a stable `code`; the server maps the classes to HTTP
// statuses (server/errors.ts), so nothing else needs to read codes off arbitrary errors.

/** A command (or a step) is already running in this sandbox: refused, not queued. */
export class BusyError extends Error { readonly code = 'BUSY' }

/** The sandbox is closed, or its shell could not be brought back (container killed, engine gone). */
export class ShellClosedError extends Error { readonly code = 'SANDBOX_CLOSED' }

/** A sandbox could not be started; the message carries the reason (the engine's, or the host's). */
export class SandboxStartError extends Error { readonly code = 'SANDBOX_ERROR' }

/** A call to a sandbox engine (dockerd) got no answer within its deadline. */
export class TimeoutError extends Error { readonly code = 'TIMEOUT' }

/** What a sandbox needs is all taken: GPUs, or the capacity of every docker engine. */
export class CapacityError extends Error { readonly code = 'CAPACITY_REACHED' }

/** No docker engine answers. */
export class EngineUnavailableError extends Error { readonly code = 'BACKEND_UNAVAILABLE' }
