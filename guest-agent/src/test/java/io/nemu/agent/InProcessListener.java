package io.nemu.agent;

import io.grpc.BindableService;
import io.grpc.Server;
import io.grpc.inprocess.InProcessServerBuilder;
import java.util.List;

/** A listener for tests: serves the agent on an in-process gRPC server named by the address. */
public final class InProcessListener implements Listener {

    @Override
    public String name() {
        return "inprocess";
    }

    @Override
    public AutoCloseable start(String address, List<BindableService> services) throws Exception {
        InProcessServerBuilder b = InProcessServerBuilder.forName(address);
        services.forEach(b::addService);
        Server server = b.build().start();
        return server::shutdownNow;
    }
}
