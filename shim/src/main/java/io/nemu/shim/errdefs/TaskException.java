package io.nemu.shim.errdefs;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;

/** A refused task call; the code maps to containerd's errdefs (NotFound, FailedPrecondition, ...). */
public final class TaskException extends RuntimeException {
    private final Status.Code code;

    public TaskException(Status.Code code, String message) {
        super(message);
        this.code = code;
    }

    public TaskException(Status.Code code, String message, Throwable cause) {
        super(message, cause);
        this.code = code;
    }

    public Status.Code code() {
        return code;
    }

    public StatusRuntimeException toStatus() {
        return Status.fromCode(code).withDescription(getMessage()).asRuntimeException();
    }

    public static TaskException notFound(String what) {
        return new TaskException(Status.Code.NOT_FOUND, what + ": not found");
    }

    public static TaskException precondition(String message) {
        return new TaskException(Status.Code.FAILED_PRECONDITION, message);
    }
}
