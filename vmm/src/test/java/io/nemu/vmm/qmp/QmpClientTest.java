package io.nemu.vmm.qmp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.nemu.vmm.process.ProcessTools;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Against a real QEMU with no guest: q35, no defaults, stopped before the first instruction (-S). */
@Tag("system")
class QmpClientTest {
    @TempDir
    Path tmp;
    private Process qemu;
    private Path socket;

    @BeforeEach
    void startQemu() throws Exception {
        socket = tmp.resolve("qmp.sock");
        qemu = new ProcessBuilder(List.of("/usr/bin/qemu-system-x86_64", "-machine", "q35", "-accel", "tcg",
                "-nodefaults", "-no-user-config", "-display", "none", "-S", "-m", "64",
                "-qmp", "unix:" + socket + ",server=on,wait=off"))
                .redirectErrorStream(true).redirectOutput(tmp.resolve("qemu.log").toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!Files.exists(socket)) {
            assertTrue(qemu.isAlive(), "QEMU exited: " + ProcessTools.tail(tmp.resolve("qemu.log"), 5));
            assertTrue(System.nanoTime() < deadline, "no QMP socket");
            Thread.sleep(10);
        }
    }

    @AfterEach
    void stopQemu() {
        ProcessTools.kill(qemu);
        assertFalse(qemu.isAlive());
    }

    @Test
    void statusEventsAndQuit() throws Exception {
        try (QmpClient c = QmpClient.connect(socket, Duration.ofSeconds(5)).get(10, TimeUnit.SECONDS)) {
            assertEquals(7, c.greeting().path("version").path("qemu").path("major").asInt());
            assertEquals("prelaunch", c.queryStatus().get(5, TimeUnit.SECONDS));
            JsonNode st = c.execute("query-status").get(5, TimeUnit.SECONDS);
            assertFalse(st.path("running").asBoolean());

            List<QmpEvent> seen = new CopyOnWriteArrayList<>();
            c.addEventListener(seen::add);
            CompletableFuture<QmpEvent> resume = c.nextEvent("RESUME");
            c.execute("cont").get(5, TimeUnit.SECONDS);
            assertEquals("RESUME", resume.get(5, TimeUnit.SECONDS).name());
            assertEquals("running", c.queryStatus().get(5, TimeUnit.SECONDS));

            CompletableFuture<QmpEvent> stop = c.nextEvent("STOP");
            c.execute("stop").get(5, TimeUnit.SECONDS);
            assertTrue(stop.get(5, TimeUnit.SECONDS).timestampMicros() > 0);
            assertEquals("paused", c.queryStatus().get(5, TimeUnit.SECONDS));

            // Arguments and errors.
            JsonNode obj = c.execute("qom-get", Map.of("path", "/machine", "property", "type"))
                    .get(5, TimeUnit.SECONDS);
            assertEquals("q35-machine", obj.asText().replace("pc-q35-7.2-machine", "q35-machine").replaceAll(
                    "^pc-q35-.*-machine$", "q35-machine"));
            ExecutionException e = assertThrows(ExecutionException.class,
                    () -> c.execute("no-such-command").get(5, TimeUnit.SECONDS));
            QmpException q = assertInstanceOf(QmpException.class, e.getCause());
            assertEquals("CommandNotFound", q.errorClass());
            assertTrue(q.getMessage().contains("no-such-command"), q.getMessage());

            CompletableFuture<QmpEvent> shutdown = c.nextEvent("SHUTDOWN");
            c.quit().get(5, TimeUnit.SECONDS);
            assertEquals("host-qmp-quit", shutdown.get(5, TimeUnit.SECONDS).data().path("reason").asText());
            c.closeFuture().get(5, TimeUnit.SECONDS);
            assertFalse(c.isConnected());
            assertTrue(seen.stream().map(QmpEvent::name).toList().containsAll(List.of("RESUME", "STOP", "SHUTDOWN")));
            ExecutionException after = assertThrows(ExecutionException.class,
                    () -> c.queryStatus().get(5, TimeUnit.SECONDS));
            assertInstanceOf(QmpException.class, after.getCause());
            assertEquals(0, ProcessTools.waitFor(qemu, Duration.ofSeconds(5)));
        }
    }

    @Test
    void qemuKilledFailsTheConnection() throws Exception {
        try (QmpClient c = QmpClient.connect(socket, Duration.ofSeconds(5)).get(10, TimeUnit.SECONDS)) {
            assertEquals("prelaunch", c.queryStatus().get(5, TimeUnit.SECONDS));
            ProcessTools.kill(qemu);
            c.closeFuture().get(5, TimeUnit.SECONDS);
            ExecutionException e = assertThrows(ExecutionException.class,
                    () -> c.execute("query-status").get(5, TimeUnit.SECONDS));
            assertTrue(e.getCause().getMessage().contains("closed") || e.getCause().getMessage().contains("lost"),
                    e.getCause().getMessage());
        }
    }

    @Test
    void connectToMissingSocketFails() {
        ExecutionException e = assertThrows(ExecutionException.class,
                () -> QmpClient.connect(tmp.resolve("nothing.sock"), Duration.ofSeconds(2)).get(5, TimeUnit.SECONDS));
        assertTrue(e.getCause().getMessage().contains("nothing.sock"), e.getCause().getMessage());
    }
}
