package io.nemu.vmm.qmp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A peer that speaks just enough QMP, then drops the connection while a command waits: the waiting
 * command must fail (real QEMU answers too fast to catch a command in flight).
 */
class QmpClientConnectionLossTest {
    @TempDir
    Path tmp;

    @Test
    void pendingCommandFailsWhenPeerHangsUp() throws Exception {
        Path sock = tmp.resolve("peer.sock");
        try (ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            server.bind(UnixDomainSocketAddress.of(sock));
            CompletableFuture<String> peer = CompletableFuture.supplyAsync(() -> {
                try (SocketChannel s = server.accept()) {
                    send(s, "{\"QMP\": {\"version\": {\"qemu\": {\"major\": 7, \"minor\": 2, \"micro\": 0}}, "
                            + "\"capabilities\": []}}\r\n");
                    BufferedReader in = new BufferedReader(new InputStreamReader(Channels.newInputStream(s),
                            StandardCharsets.UTF_8));
                    String caps = in.readLine();
                    String id = caps.replaceAll(".*\"id\":\"([^\"]+)\".*", "$1");
                    // An event, then the reply, split across writes to exercise framing.
                    send(s, "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 5}, \"event\": \"POWERDOWN\"}\r\n{\"ret");
                    send(s, "urn\": {}, \"id\": \"" + id + "\"}\r\n");
                    String held = in.readLine(); // never answered
                    return held;
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            try (QmpClient c = QmpClient.connect(sock, Duration.ofSeconds(5)).get(10, TimeUnit.SECONDS)) {
                CompletableFuture<QmpEvent> ev = c.nextEvent("POWERDOWN");
                CompletableFuture<?> pending = c.execute("query-status");
                String held = peer.get(5, TimeUnit.SECONDS);
                assertTrue(held != null && held.contains("query-status"), "peer got: " + held);
                ExecutionException e = assertThrows(ExecutionException.class, () -> pending.get(5, TimeUnit.SECONDS));
                QmpException q = assertInstanceOf(QmpException.class, e.getCause());
                assertTrue(q.getMessage().contains("query-status") && q.getMessage().contains("lost"), q.getMessage());
                c.closeFuture().get(5, TimeUnit.SECONDS);
                // The event came before the greeting was acknowledged: it must not be delivered late as a new one.
                // Listeners are completed on the event loop after the close: wait for that, not a race with it.
                ev.handle((v, t) -> null).get(5, TimeUnit.SECONDS);
            }
        }
    }

    @Test
    void eventsReachListeners() throws Exception {
        Path sock = tmp.resolve("peer2.sock");
        try (ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            server.bind(UnixDomainSocketAddress.of(sock));
            CompletableFuture<Void> go = new CompletableFuture<>();
            CompletableFuture.runAsync(() -> {
                try (SocketChannel s = server.accept()) {
                    send(s, "{\"QMP\": {\"version\": {}, \"capabilities\": []}}\n");
                    BufferedReader in = new BufferedReader(new InputStreamReader(Channels.newInputStream(s)));
                    String caps = in.readLine();
                    String id = caps.replaceAll(".*\"id\":\"([^\"]+)\".*", "$1");
                    send(s, "{\"return\": {}, \"id\": \"" + id + "\"}\n");
                    go.get(5, TimeUnit.SECONDS);
                    send(s, "{\"event\": \"DEVICE_DELETED\", \"data\": {\"device\": \"hotplug0\", \"path\": "
                            + "\"/machine/peripheral/hotplug0\"}, \"timestamp\": {\"seconds\": 2, \"microseconds\": 1}}\n");
                    in.readLine();
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            try (QmpClient c = QmpClient.connect(sock, Duration.ofSeconds(5)).get(10, TimeUnit.SECONDS)) {
                CompletableFuture<QmpEvent> ev = c.nextEvent("DEVICE_DELETED");
                go.complete(null);
                QmpEvent e = ev.get(5, TimeUnit.SECONDS);
                assertEquals("hotplug0", e.data().path("device").asText());
                assertEquals(2_000_001L, e.timestampMicros());
            }
        }
    }

    private static void send(SocketChannel s, String text) throws java.io.IOException {
        ByteBuffer b = ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8));
        while (b.hasRemaining()) {
            s.write(b);
        }
    }
}
