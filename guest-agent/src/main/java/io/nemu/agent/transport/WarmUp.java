package io.nemu.agent.transport;

import io.grpc.BindableService;
import io.grpc.StatusRuntimeException;
import io.nemu.proto.kata.AgentServiceGrpc;
import io.nemu.proto.kata.CheckRequest;
import io.nemu.proto.kata.CreateContainerRequest;
import io.nemu.proto.kata.HealthGrpc;
import io.nemu.proto.kata.Process;
import io.nemu.proto.kata.ReadStreamRequest;
import io.nemu.proto.kata.Spec;
import io.nemu.proto.kata.WaitProcessRequest;
import io.nemu.ttrpc.TtrpcClient;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * {@code AgentMain --warm-up}: runs the agent's first calls through its own ttrpc server inside the JVM and
 * returns. The image builder runs it with {@code -XX:ArchiveClassesAtExit} so that the classes of start-up and
 * of the first calls come from an AppCDS archive in the guest. Touches nothing outside the JVM: only calls that
 * fail on their input or on unknown ids.
 */
public final class WarmUp {
    private WarmUp() {}

    public static void run(List<BindableService> services) throws Exception {
        try (TtrpcBridge bridge = new TtrpcBridge(services);
             TtrpcClient client = TtrpcClient.over(bridge.connectLocal())) {
            HealthGrpc.HealthBlockingStub health = HealthGrpc.newBlockingStub(client).withDeadlineAfter(30, TimeUnit.SECONDS);
            health.check(CheckRequest.getDefaultInstance());
            health.version(CheckRequest.getDefaultInstance());
            AgentServiceGrpc.AgentServiceBlockingStub agent = AgentServiceGrpc.newBlockingStub(client)
                    .withDeadlineAfter(30, TimeUnit.SECONDS);
            expectError(() -> agent.waitProcess(WaitProcessRequest.newBuilder().setContainerId("warm-up").build()));
            expectError(() -> agent.readStdout(ReadStreamRequest.newBuilder().setContainerId("warm-up").build()));
            expectError(() -> agent.createContainer(CreateContainerRequest.newBuilder().setContainerId("warm-up")
                    .setOCI(Spec.newBuilder().setVersion("1.0.2").setProcess(Process.newBuilder().setCwd("/"))).build()));
        }
    }

    private static void expectError(Runnable call) {
        try {
            call.run();
            throw new IllegalStateException("warm-up call unexpectedly succeeded");
        } catch (StatusRuntimeException expected) {
            // what the warm-up wants: the error path loaded
        }
    }
}
