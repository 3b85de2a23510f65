package io.nemu.shim.events;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Empty;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.stub.StreamObserver;
import io.nemu.proto.containerd.events.TaskExit;
import io.nemu.proto.containerd.events.TaskStart;
import io.nemu.proto.containerd.services.ttrpc.events.v1.EventsGrpc;
import io.nemu.proto.containerd.services.ttrpc.events.v1.ForwardRequest;
import io.nemu.proto.containerd.types.Envelope;
import io.nemu.ttrpc.TtrpcServer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Forwarding to a fake containerd Events service over real ttrpc. */
class EventForwarderTest {
    @TempDir
    Path dir;

    private final BlockingQueue<Envelope> got = new LinkedBlockingQueue<>();
    private final BlockingQueue<String> namespaces = new LinkedBlockingQueue<>();

    private TtrpcServer fakeContainerd(Path socket) throws Exception {
        EventsGrpc.EventsImplBase impl = new EventsGrpc.EventsImplBase() {
            @Override
            public void forward(ForwardRequest request, StreamObserver<Empty> out) {
                got.add(request.getEnvelope());
                out.onNext(Empty.getDefaultInstance());
                out.onCompleted();
            }
        };
        ServerInterceptor ns = new ServerInterceptor() {
            @Override
            public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
                                                               ServerCallHandler<Q, R> next) {
                namespaces.add(String.valueOf(headers.get(EventForwarder.NAMESPACE_KEY)));
                return next.startCall(call, headers);
            }
        };
        TtrpcServer s = TtrpcServer.builder().addService(ServerInterceptors.intercept(impl, ns)).build();
        s.bind(socket);
        return s;
    }

    @Test
    void envelopesCarryTimestampNamespaceAndBareTypeUrlInOrder() throws Exception {
        Path sock = dir.resolve("c.sock");
        try (TtrpcServer s = fakeContainerd(sock);
             EventForwarder f = new EventForwarder(sock, "k8s.io", Duration.ofSeconds(5))) {
            f.publish("/tasks/start", TaskStart.newBuilder().setContainerId("c1").setPid(7).build());
            f.publish("/tasks/exit", TaskExit.newBuilder().setContainerId("c1").setExitStatus(3).build());
            Envelope a = got.poll(5, TimeUnit.SECONDS);
            Envelope b = got.poll(5, TimeUnit.SECONDS);
            assertEquals("/tasks/start", a.getTopic());
            assertEquals("containerd.events.TaskStart", a.getEvent().getTypeUrl());
            assertEquals("k8s.io", a.getNamespace());
            assertTrue(a.getTimestamp().getSeconds() > 1_600_000_000L);
            assertEquals("/tasks/exit", b.getTopic());
            assertEquals(3, TaskExit.parseFrom(b.getEvent().getValue()).getExitStatus());
            assertEquals(List.of("k8s.io", "k8s.io"), List.of(namespaces.take(), namespaces.take()));
        }
    }

    @Test
    void retriesUntilContainerdIsBack() throws Exception {
        Path sock = dir.resolve("late.sock");
        try (EventForwarder f = new EventForwarder(sock, "default", Duration.ofSeconds(10))) {
            f.publish("/tasks/exit", TaskExit.newBuilder().setContainerId("c1").build());
            Thread.sleep(700);
            try (TtrpcServer s = fakeContainerd(sock)) {
                Envelope e = got.poll(5, TimeUnit.SECONDS);
                assertEquals("/tasks/exit", e == null ? null : e.getTopic());
            }
        }
    }

    @Test
    void aPodsEventsAreSentAsThatPodsWork() throws Exception {
        Path sock = dir.resolve("pods.sock");
        List<String> sentAs = new java.util.concurrent.CopyOnWriteArrayList<>();
        try (TtrpcServer s = fakeContainerd(sock);
             EventForwarder f = new EventForwarder(sock, "k8s.io", Duration.ofSeconds(5), (pod, send) -> {
                 sentAs.add(pod);
                 send.run();
             })) {
            f.of("pod-a").publish("/tasks/start", TaskStart.newBuilder().setContainerId("a").build());
            f.of("pod-b").publish("/tasks/exit", TaskExit.newBuilder().setContainerId("b").build());
            assertEquals("/tasks/start", got.poll(5, TimeUnit.SECONDS).getTopic());
            assertEquals("/tasks/exit", got.poll(5, TimeUnit.SECONDS).getTopic());
            assertEquals(List.of("pod-a", "pod-b"), sentAs);
        }
    }
}
