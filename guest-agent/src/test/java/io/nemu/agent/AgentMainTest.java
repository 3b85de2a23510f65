package io.nemu.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.nemu.proto.kata.AgentServiceGrpc;
import io.nemu.proto.kata.CheckRequest;
import io.nemu.proto.kata.HealthCheckResponse;
import io.nemu.proto.kata.HealthGrpc;
import io.nemu.proto.kata.WaitProcessRequest;
import java.nio.file.Path;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** AgentMain picks its listener by name through ServiceLoader and serves both services on it. */
class AgentMainTest {

    @TempDir
    Path dir;

    @Test
    void servesThroughThePluggedListener() throws Exception {
        String name = "main-" + UUID.randomUUID();
        Thread t = new Thread(() -> {
            try {
                AgentMain.main(new String[] {"--listen", "inprocess:" + name, "--state-dir", dir.toString()});
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }, "agent-main");
        t.setDaemon(true);
        t.start();
        ManagedChannel ch = InProcessChannelBuilder.forName(name).build();
        try {
            HealthCheckResponse r = null;
            for (int i = 0; i < 100 && r == null; i++) {
                try {
                    r = HealthGrpc.newBlockingStub(ch).withDeadlineAfter(5, TimeUnit.SECONDS)
                            .check(CheckRequest.getDefaultInstance());
                } catch (StatusRuntimeException e) {
                    Thread.sleep(50); // not listening yet
                }
            }
            assertEquals(HealthCheckResponse.ServingStatus.SERVING, r.getStatus());
            StatusRuntimeException e = org.junit.jupiter.api.Assertions.assertThrows(StatusRuntimeException.class,
                    () -> AgentServiceGrpc.newBlockingStub(ch).waitProcess(
                            WaitProcessRequest.newBuilder().setContainerId("nothing").build()));
            assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode());
        } finally {
            ch.shutdownNow();
        }
    }
}
