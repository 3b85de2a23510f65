package io.nemu.agent;

import io.grpc.Status;

/** A failure with the gRPC status the caller should see. */
public final class AgentException extends RuntimeException {

    private final Status.Code code;

    public AgentException(Status.Code code, String message, Throwable cause) {
        super(message, cause);
        this.code = code;
    }

    public static AgentException invalid(String message) {
        return new AgentException(Status.Code.INVALID_ARGUMENT, message, null);
    }

    public static AgentException notFound(String message) {
        return new AgentException(Status.Code.NOT_FOUND, message, null);
    }

    public static AgentException exists(String message) {
        return new AgentException(Status.Code.ALREADY_EXISTS, message, null);
    }

    public static AgentException precondition(String message) {
        return new AgentException(Status.Code.FAILED_PRECONDITION, message, null);
    }

    public static AgentException internal(String message, Throwable cause) {
        return new AgentException(Status.Code.INTERNAL, message, cause);
    }

    /** {@code e} itself when it is one, else INTERNAL saying what failed ({@code "exec in c1: ..."}). */
    public static AgentException wrap(String what, Exception e) {
        return e instanceof AgentException ae ? ae : internal(what + ": " + e.getMessage(), e);
    }

    public Status.Code code() {
        return code;
    }

    public Status status() {
        return Status.fromCode(code).withDescription(getMessage());
    }
}
