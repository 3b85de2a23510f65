package io.nemu.agent;

import io.grpc.BindableService;
import java.util.List;

/**
 * How the agent is reached: a transport serving the agent's gRPC services (ttrpc on vsock in the
 * VM). Implementations are found with {@link java.util.ServiceLoader} by {@link #name()}, so a
 * transport module adds itself by a {@code META-INF/services/io.nemu.agent.Listener} entry.
 */
public interface Listener {

    /** The name {@code --listen NAME:ADDRESS} selects. */
    String name();

    /**
     * Starts serving {@code services} at {@code address} (meaning is the listener's, e.g. a vsock
     * port) and returns a handle that stops it.
     */
    AutoCloseable start(String address, List<BindableService> services) throws Exception;
}
