package io.nemu.vmm.template;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.nemu.vmm.VmException;
import io.nemu.vmm.qmp.QmpClient;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Moves a VM's device state out of a paused template and into a paused clone over QMP migration, with
 * {@code x-ignore-shared}: RAM on a shared file is not sent, so the state is small (tens to hundreds of KiB).
 * The stream goes through a unix socket this process serves, not {@code exec:}: QEMU's seccomp sandbox
 * ({@code spawn=deny}) forbids it to start a program.
 */
public final class StateTransfer {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Duration POLL = Duration.ofMillis(5);

    private StateTransfer() {
    }

    /** Pauses the VM and writes its device state into {@code stateFile} through the unix socket {@code via}. */
    public static void save(QmpClient qmp, Path via, Path stateFile, Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        call(qmp, "stop", null, deadline);
        call(qmp, "migrate-set-capabilities", ignoreShared(), deadline);
        Files.deleteIfExists(via);
        try (ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            server.bind(UnixDomainSocketAddress.of(via));
            call(qmp, "migrate", JSON.createObjectNode().put("uri", "unix:" + via), deadline);
            Path partial = stateFile.resolveSibling(stateFile.getFileName() + ".part");
            try (SocketChannel in = accept(server, qmp, deadline); OutputStream out = Files.newOutputStream(partial)) {
                Channels.newInputStream(in).transferTo(out);
            }
            String status = awaitStatus(qmp, "query-migrate", "status", s -> s.equals("completed") || s.equals("failed"),
                    deadline);
            if (!status.equals("completed")) {
                Files.deleteIfExists(partial);
                throw new VmException("saving the template's state failed: migration " + status);
            }
            Files.move(partial, stateFile, java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                    java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(via);
        }
    }

    /**
     * Loads {@code stateFile} into a VM started with {@code -incoming defer} (QEMU listens on {@code via}), then
     * lets it run. Returns once the guest runs again.
     */
    public static void load(QmpClient qmp, Path via, Path stateFile, Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        call(qmp, "migrate-set-capabilities", ignoreShared(), deadline);
        Files.deleteIfExists(via);
        call(qmp, "migrate-incoming", JSON.createObjectNode().put("uri", "unix:" + via), deadline);
        try (SocketChannel out = SocketChannel.open(StandardProtocolFamily.UNIX);
             InputStream in = Files.newInputStream(stateFile)) {
            out.connect(UnixDomainSocketAddress.of(via));
            in.transferTo(Channels.newOutputStream(out));
        } finally {
            Files.deleteIfExists(via);
        }
        String status = awaitStatus(qmp, "query-status", "status", s -> !s.equals("inmigrate"), deadline);
        if (!status.equals("paused")) {
            throw new VmException("loading the template's state " + stateFile + " failed: the VM is '" + status
                    + "' instead of paused (see qemu.log)");
        }
        call(qmp, "cont", null, deadline);
    }

    /** QEMU's connection, or an error once the migration failed or the deadline passed (never an endless wait). */
    private static SocketChannel accept(ServerSocketChannel server, QmpClient qmp, long deadline) throws IOException {
        server.configureBlocking(false);
        while (true) {
            SocketChannel c = server.accept();
            if (c != null) {
                c.configureBlocking(true);
                return c;
            }
            String status = call(qmp, "query-migrate", null, deadline).path("status").asText("");
            if (status.equals("failed") || System.nanoTime() > deadline) {
                throw new VmException("QEMU did not send the template's state (migration '" + status + "')");
            }
            try {
                Thread.sleep(POLL.toMillis());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted waiting for QEMU's migration stream", e);
            }
        }
    }

    private static ObjectNode ignoreShared() {
        ObjectNode args = JSON.createObjectNode();
        ArrayNode caps = args.putArray("capabilities");
        caps.addObject().put("capability", "x-ignore-shared").put("state", true);
        return args;
    }

    private static String awaitStatus(QmpClient qmp, String query, String field,
            java.util.function.Predicate<String> done, long deadline) throws IOException {
        while (true) {
            String s = call(qmp, query, null, deadline).path(field).asText("");
            if (done.test(s)) {
                return s;
            }
            if (System.nanoTime() > deadline) {
                throw new VmException(query + " still says '" + s + "' at the deadline");
            }
            try {
                Thread.sleep(POLL.toMillis());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted waiting for " + query, e);
            }
        }
    }

    private static com.fasterxml.jackson.databind.JsonNode call(QmpClient qmp, String cmd, ObjectNode args,
            long deadline) throws IOException {
        CompletableFuture<com.fasterxml.jackson.databind.JsonNode> f = args == null ? qmp.execute(cmd)
                : qmp.execute(cmd, args);
        try {
            return f.get(Math.max(1, (deadline - System.nanoTime()) / 1_000_000), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            throw new VmException(cmd + ": " + (e.getCause() == null ? e : e.getCause()).getMessage(), e);
        } catch (TimeoutException e) {
            throw new VmException(cmd + ": no answer in time", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted during " + cmd, e);
        }
    }
}
