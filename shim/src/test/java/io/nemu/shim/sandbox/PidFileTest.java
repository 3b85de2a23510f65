package io.nemu.shim.sandbox;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PidFileTest {
    @TempDir
    Path dir;

    @Test
    void recordsAndRecognisesARunningProcess() throws IOException {
        Path f = dir.resolve("self.pid");
        PidFile.of(ProcessHandle.current().pid()).write(f);
        PidFile read = PidFile.read(f).orElseThrow();
        assertEquals(ProcessHandle.current().pid(), read.pid());
        assertTrue(read.runs());
    }

    @Test
    void aProcessThatReusesThePidIsNotTheRecordedOne() throws Exception {
        Process p = new ProcessBuilder("sleep", "60").start();
        try {
            PidFile real = PidFile.of(p.pid());
            assertTrue(real.runs());
            assertFalse(new PidFile(p.pid(), real.startTicks() - 1).runs(), "same pid, earlier start: a newcomer");
        } finally {
            p.destroyForcibly().waitFor();
        }
    }

    @Test
    void anExitedProcessDoesNotRun() throws Exception {
        Process p = new ProcessBuilder("true").start();
        PidFile gone = new PidFile(p.pid(), 1);
        p.waitFor();
        assertFalse(gone.runs());
    }

    @Test
    void malformedOrMissingFilesAreNoRecord() throws IOException {
        assertEquals(Optional.empty(), PidFile.read(dir.resolve("none")));
        assertEquals(Optional.empty(), PidFile.read(Files.writeString(dir.resolve("bare"), "1234\n")));
        assertEquals(Optional.empty(), PidFile.read(Files.writeString(dir.resolve("junk"), "12 x\n")));
        assertEquals(Optional.of(new PidFile(12, 34)), PidFile.read(Files.writeString(dir.resolve("ok"), "12 34\n")));
    }

    @Test
    void commandNamesWithSpacesAndParenthesesDoNotShiftTheFields() throws Exception {
        Path link = dir.resolve("x) (y");
        Files.copy(Path.of("/bin/sleep"), link);
        link.toFile().setExecutable(true);
        Process p = new ProcessBuilder(link.toString(), "60").start();
        try {
            PidFile rec = PidFile.of(p.pid());
            assertTrue(rec.startTicks() > 0);
            assertTrue(rec.runs());
        } finally {
            p.destroyForcibly().waitFor();
        }
    }
}
