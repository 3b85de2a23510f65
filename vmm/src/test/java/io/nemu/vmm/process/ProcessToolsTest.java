package io.nemu.vmm.process;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** Figures of /proc/PID files, read from this JVM's own. */
class ProcessToolsTest {
    private static final long SELF = ProcessHandle.current().pid();

    @Test
    void readsKibFiguresOfStatusAndSmapsRollup() throws Exception {
        assertTrue(ProcessTools.rssKib(SELF) > 1024, "VmRSS of a JVM");
        assertTrue(ProcessTools.procKib(SELF, "smaps_rollup", "Pss") > 0, "Pss of a JVM");
        // An idle child keeps its figures still between two reads.
        Process sleep = new ProcessBuilder("sleep", "30").start();
        try {
            Thread.sleep(200);
            long rss = ProcessTools.procKib(sleep.pid(), "status", "VmRSS");
            assertTrue(rss > 0, "VmRSS of sleep: " + rss);
            assertEquals(rss, ProcessTools.rssKib(sleep.pid()));
        } finally {
            ProcessTools.kill(sleep);
        }
    }

    @Test
    void aMissingLineOrProcessIsMinusOne() {
        assertEquals(-1, ProcessTools.procKib(SELF, "status", "NoSuchField"));
        assertEquals(-1, ProcessTools.procKib(SELF, "status", "VmRS")); // a prefix of VmRSS is not VmRSS
        assertEquals(-1, ProcessTools.rssKib(Integer.MAX_VALUE));
    }
}
