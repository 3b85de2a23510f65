package io.nemu.agent.transport;

import io.grpc.BindableService;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * One {@link TtrpcBridge} per service list, so that the vsock and the serial listener of one agent share
 * the ttrpc server, its handler pool and its event loop.
 */
final class Bridges {
    private static final Map<List<BindableService>, Shared> SHARED = new IdentityHashMap<>();

    private Bridges() {}

    private static final class Shared {
        final TtrpcBridge bridge;
        int users;

        Shared(TtrpcBridge bridge) {
            this.bridge = bridge;
        }
    }

    static synchronized TtrpcBridge acquire(List<BindableService> services) {
        Shared s = SHARED.computeIfAbsent(services, l -> new Shared(new TtrpcBridge(l)));
        s.users++;
        return s.bridge;
    }

    static synchronized void release(List<BindableService> services) {
        Shared s = SHARED.get(services);
        if (s != null && --s.users == 0) {
            SHARED.remove(services);
            s.bridge.close();
        }
    }
}
