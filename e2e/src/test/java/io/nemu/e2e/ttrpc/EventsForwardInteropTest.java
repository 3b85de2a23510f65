package io.nemu.e2e.ttrpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Any;
import com.google.protobuf.Timestamp;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.MetadataUtils;
import io.nemu.e2e.support.Containerd;
import io.nemu.e2e.support.ContainerdEvents;
import io.nemu.e2e.support.Leftovers;
import io.nemu.proto.containerd.events.TaskExit;
import io.nemu.proto.containerd.services.ttrpc.events.v1.EventsGrpc;
import io.nemu.proto.containerd.services.ttrpc.events.v1.ForwardRequest;
import io.nemu.proto.containerd.types.Envelope;
import io.nemu.ttrpc.TtrpcClient;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Our ttrpc client against containerd's own ttrpc server: a TaskExit forwarded through
 * {@code containerd.services.events.ttrpc.v1.Events/Forward} must come out of containerd's event stream.
 */
@Tag("system")
class EventsForwardInteropTest {
    @RegisterExtension
    static final Leftovers LEFTOVERS = Leftovers.afterEach();

    private static final Metadata.Key<String> NAMESPACE_KEY =
            Metadata.Key.of("containerd-namespace-ttrpc", Metadata.ASCII_STRING_MARSHALLER);

    @Test
    void forwardedTaskExitReachesContainerdSubscribers() throws Exception {
        try (Containerd containerd = LEFTOVERS.containerd(Containerd.start());
             ContainerdEvents events = containerd.events();
             TtrpcClient client = TtrpcClient.connect(Path.of(containerd.ttrpcAddress()))) {
            var stub = stub(client, "default");
            for (int i = 1; i <= 3; i++) {
                String id = "interop-" + i;
                stub.forward(forward("default", exit(id, 40 + i)));
                ContainerdEvents.Event seen = events.await("TaskExit of " + id,
                        e -> e.topic().equals("/tasks/exit") && e.json().contains("\"" + id + "\""),
                        Duration.ofSeconds(10));
                assertEquals("default", seen.namespace());
                assertTrue(seen.json().contains("\"container_id\":\"" + id + "\""), seen.line());
                assertTrue(seen.json().contains("\"exit_status\":" + (40 + i)), seen.line());
                assertTrue(seen.json().contains("\"pid\":4242"), seen.line());
            }
        }
    }

    @Test
    void containerdStatusComesBackThroughOurClient() throws Exception {
        try (Containerd containerd = LEFTOVERS.containerd(Containerd.start());
             TtrpcClient client = TtrpcClient.connect(Path.of(containerd.ttrpcAddress()))) {
            var stub = stub(client, "default");
            // containerd refuses an envelope without a timestamp; its status must reach us intact.
            Envelope noTimestamp = forward("default", exit("no-ts", 1)).getEnvelope().toBuilder()
                    .clearTimestamp().build();
            StatusRuntimeException refused = assertThrows(StatusRuntimeException.class,
                    () -> stub.forward(ForwardRequest.newBuilder().setEnvelope(noTimestamp).build()));
            assertEquals(Status.Code.INVALID_ARGUMENT, refused.getStatus().getCode(), refused.toString());
            assertTrue(refused.getStatus().getDescription().contains("timestamp"), refused.toString());

            // The connection stays usable after an error response.
            stub.forward(forward("default", exit("after-error", 2)));
        }
    }

    private static EventsGrpc.EventsBlockingStub stub(TtrpcClient client, String namespace) {
        Metadata metadata = new Metadata();
        metadata.put(NAMESPACE_KEY, namespace);
        return EventsGrpc.newBlockingStub(client)
                .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(metadata))
                .withDeadlineAfter(10, java.util.concurrent.TimeUnit.SECONDS);
    }

    private static TaskExit exit(String id, int status) {
        Instant now = Instant.now();
        return TaskExit.newBuilder().setContainerId(id).setId(id).setPid(4242).setExitStatus(status)
                .setExitedAt(timestamp(now)).build();
    }

    private static ForwardRequest forward(String namespace, TaskExit exit) {
        // ctr decodes only the bare type name, not Any.pack's "type.googleapis.com/" form.
        Any event = Any.newBuilder().setTypeUrl(TaskExit.getDescriptor().getFullName())
                .setValue(exit.toByteString()).build();
        Envelope envelope = Envelope.newBuilder().setTimestamp(timestamp(Instant.now()))
                .setNamespace(namespace).setTopic("/tasks/exit").setEvent(event).build();
        return ForwardRequest.newBuilder().setEnvelope(envelope).build();
    }

    private static Timestamp timestamp(Instant t) {
        return Timestamp.newBuilder().setSeconds(t.getEpochSecond()).setNanos(t.getNano()).build();
    }
}
