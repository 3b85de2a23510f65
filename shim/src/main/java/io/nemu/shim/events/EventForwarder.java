package io.nemu.shim.events;

import com.google.protobuf.Any;
import com.google.protobuf.Message;
import com.google.protobuf.Timestamp;
import io.grpc.Metadata;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.MetadataUtils;
import io.nemu.proto.containerd.services.ttrpc.events.v1.EventsGrpc;
import io.nemu.proto.containerd.services.ttrpc.events.v1.ForwardRequest;
import io.nemu.proto.containerd.types.Envelope;
import io.nemu.ttrpc.TtrpcClient;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.BiConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Sends task events to containerd ({@code containerd.services.events.ttrpc.v1.Events/Forward} on
 * TTRPC_ADDRESS), one at a time in the order published. A failed send is retried, reconnecting, until
 * {@code retryFor} has passed (containerd restarting); then that event is dropped with a warning. One forwarder
 * serves every pod of a daemon: {@link #of} gives a pod its sink, whose events are sent (and logged) as that pod's.
 */
public final class EventForwarder implements EventSink, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(EventForwarder.class);
    public static final Metadata.Key<String> NAMESPACE_KEY =
            Metadata.Key.of("containerd-namespace-ttrpc", Metadata.ASCII_STRING_MARSHALLER);
    private static final Object STOP = new Object();

    private final Path socket;
    private final String namespace;
    private final Duration retryFor;
    private final BlockingQueue<Object> queue = new LinkedBlockingQueue<>();
    private final BiConsumer<String, Runnable> asPod;
    private final Thread sender;
    private TtrpcClient client;

    /** An event on its way, and the pod it is of (null: none). */
    private record Pending(String pod, Envelope envelope) {
    }

    public EventForwarder(Path socket, String namespace, Duration retryFor) {
        this(socket, namespace, retryFor, (pod, send) -> send.run());
    }

    /**
     * @param asPod runs a send as work of the pod named (so that its log lines name that pod)
     */
    public EventForwarder(Path socket, String namespace, Duration retryFor, BiConsumer<String, Runnable> asPod) {
        this.socket = socket;
        this.namespace = namespace;
        this.retryFor = retryFor;
        this.asPod = asPod;
        this.sender = new Thread(this::run, "event-forwarder");
        sender.setDaemon(true);
        sender.start();
    }

    /** The envelope containerd wants: timestamp set, bare type url. */
    public static Envelope envelope(String namespace, String topic, Message event, Instant at) {
        return Envelope.newBuilder()
                .setTimestamp(Timestamp.newBuilder().setSeconds(at.getEpochSecond()).setNanos(at.getNano()))
                .setNamespace(namespace).setTopic(topic)
                .setEvent(Any.newBuilder().setTypeUrl(event.getDescriptorForType().getFullName())
                        .setValue(event.toByteString()))
                .build();
    }

    @Override
    public void publish(String topic, Message event) {
        queue.add(new Pending(null, envelope(namespace, topic, event, Instant.now())));
    }

    /** The sink of pod {@code sandboxId}: its events keep their order among all the others. */
    public EventSink of(String sandboxId) {
        return (topic, event) -> queue.add(new Pending(sandboxId, envelope(namespace, topic, event, Instant.now())));
    }

    private void run() {
        try {
            while (true) {
                Object next = queue.take();
                if (next == STOP) {
                    return;
                }
                Pending p = (Pending) next;
                if (p.pod() == null) {
                    send(p.envelope());
                } else {
                    asPod.accept(p.pod(), () -> send(p.envelope()));
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            disconnect();
        }
    }

    /** Sends {@code e}, retrying; an interrupt ends the retries and is kept on the thread for the loop. */
    private void send(Envelope e) {
        long deadline = System.nanoTime() + retryFor.toNanos();
        long backoff = 50;
        while (true) {
            try {
                EventsGrpc.EventsBlockingStub stub = EventsGrpc.newBlockingStub(connection())
                        .withDeadlineAfter(5, TimeUnit.SECONDS);
                stub.forward(ForwardRequest.newBuilder().setEnvelope(e).build());
                log.debug("event {} forwarded", e.getTopic());
                return;
            } catch (IOException | StatusRuntimeException failure) {
                disconnect();
                if (System.nanoTime() > deadline) {
                    log.warn("event {} dropped: containerd unreachable at {} for {} s: {}", e.getTopic(), socket,
                            retryFor.toSeconds(), failure.getMessage());
                    return;
                }
                try {
                    Thread.sleep(backoff);
                } catch (InterruptedException stop) {
                    Thread.currentThread().interrupt();
                    return;
                }
                backoff = Math.min(backoff * 2, 1000);
            }
        }
    }

    private io.grpc.Channel connection() throws IOException {
        if (client == null || client.isClosed()) {
            client = TtrpcClient.connect(socket);
        }
        Metadata md = new Metadata();
        md.put(NAMESPACE_KEY, namespace);
        return io.grpc.ClientInterceptors.intercept(client, MetadataUtils.newAttachHeadersInterceptor(md));
    }

    private void disconnect() {
        if (client != null) {
            client.close();
            client = null;
        }
    }

    /** Sends what is queued (waiting up to {@code wait}), then stops. */
    public void close(Duration wait) {
        queue.add(STOP);
        try {
            sender.join(wait.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (sender.isAlive()) {
            sender.interrupt();
        }
    }

    @Override
    public void close() {
        close(Duration.ofSeconds(5));
    }
}
