package io.nemu.e2e.support;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The leftovers check and the recursive delete on plain files and processes (no containerd, no VM). */
class LeftoversTest {
    @TempDir
    Path tmp;

    @Test
    void anIdCountsOnlyAsAWholeName() {
        assertTrue(Leftovers.names("/run/nemu/sandboxes/t-echo/vm/qmp.sock", "t-echo"));
        assertTrue(Leftovers.names("java -cp x ShimMain -namespace default -id t-echo daemon", "t-echo"));
        assertTrue(Leftovers.names("/run/nemu/shared/sandboxes/t-echo", "t-echo"));
        assertFalse(Leftovers.names("/run/nemu/sandboxes/t-echo2/vm", "t-echo"));
        assertFalse(Leftovers.names("-id at-echo", "t-echo"));
    }

    @Test
    void aProcessNamingARegisteredFolderIsLeftUntilItEnds() throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("work"));
        Leftovers l = Leftovers.afterEach();
        l.dir(dir);
        l.gone(dir.resolve("state"));
        Files.createDirectories(dir.resolve("state"));
        Process p = new ProcessBuilder("sh", "-c", "sleep 60", dir.resolve("holder").toString()).start();
        try {
            List<String> left = l.find(false);
            assertTrue(left.contains("process naming " + dir + ": " + p.pid() + " sh -c sleep 60 " + dir.resolve("holder")),
                    left.toString());
            assertTrue(left.contains("still there: " + dir.resolve("state")), left.toString());
        } finally {
            p.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
        }
        FileTrees.delete(dir.resolve("state"));
        assertEquals(List.of(), l.find(false));
    }

    @Test
    void deleteRemovesLinksNotWhatTheyPointAt() throws Exception {
        Path outside = Files.writeString(tmp.resolve("outside.txt"), "keep");
        Path top = Files.createDirectories(tmp.resolve("top/a/b"));
        Files.writeString(top.resolve("f"), "x");
        Files.createSymbolicLink(top.resolve("link"), outside);
        Files.createSymbolicLink(tmp.resolve("top/dirlink"), tmp);
        FileTrees.delete(tmp.resolve("top"));
        assertFalse(Files.exists(tmp.resolve("top")));
        assertEquals("keep", Files.readString(outside));
        FileTrees.delete(tmp.resolve("top")); // already gone: nothing to do
    }

    @Test
    void assertNoneNamesWhatIsLeft() throws Exception {
        Path kept = Files.createDirectories(tmp.resolve("kept"));
        Leftovers l = Leftovers.ofSandboxes();
        l.gone(kept);
        // assertNone waits for things to settle first; a path that stays makes it fail, naming the path.
        long t0 = System.nanoTime();
        AssertionError e = assertThrows(AssertionError.class, () -> l.assertNone(Duration.ofMillis(600)));
        assertTrue(e.getMessage().contains("still there: " + kept), e.getMessage());
        assertTrue(System.nanoTime() - t0 >= TimeUnit.MILLISECONDS.toNanos(600), "gave up before the settle time");
        FileTrees.delete(kept);
        l.assertNone(Duration.ofMillis(600));
    }
}
