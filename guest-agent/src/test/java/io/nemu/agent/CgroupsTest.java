package io.nemu.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nemu.proto.kata.CgroupStats;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * cgroup v2 reading on a tree of the test's own (this host is v1, where the system tests cover
 * the real thing): stats fields and one OOM event per oom_kill increment.
 */
class CgroupsTest {

    @TempDir
    Path root;

    private Path v2(String path) throws Exception {
        Files.writeString(root.resolve("cgroup.controllers"), "cpu memory pids\n");
        Path d = root.resolve(path.substring(1));
        Files.createDirectories(d);
        Files.writeString(d.resolve("memory.current"), "5242880\n");
        Files.writeString(d.resolve("memory.max"), "33554432\n");
        Files.writeString(d.resolve("memory.stat"), "anon 4000000\nfile 1000000\n");
        Files.writeString(d.resolve("memory.events"), "low 0\nhigh 0\nmax 7\noom 0\noom_kill 0\n");
        Files.writeString(d.resolve("cpu.stat"), "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n"
                + "nr_periods 4\nnr_throttled 2\nthrottled_usec 30\n");
        Files.writeString(d.resolve("pids.current"), "3\n");
        Files.writeString(d.resolve("pids.max"), "max\n");
        return d;
    }

    @Test
    void statsFromV2Files() throws Exception {
        v2("/pod/c1");
        Cgroups cg = new Cgroups(root);
        assertTrue(cg.unified());
        CgroupStats s = cg.stats("/pod/c1");
        assertEquals(5242880, s.getMemoryStats().getUsage().getUsage());
        assertEquals(33554432, s.getMemoryStats().getUsage().getLimit());
        assertEquals(7, s.getMemoryStats().getUsage().getFailcnt());
        assertEquals(1000000, s.getMemoryStats().getCache());
        assertEquals(4000000, s.getMemoryStats().getStatsMap().get("anon"));
        assertEquals(1_500_000, s.getCpuStats().getCpuUsage().getTotalUsage());
        assertEquals(500_000, s.getCpuStats().getCpuUsage().getUsageInKernelmode());
        assertEquals(2, s.getCpuStats().getThrottlingData().getThrottledPeriods());
        assertEquals(3, s.getPidsStats().getCurrent());
        assertEquals(0, s.getPidsStats().getLimit());
    }

    @Test
    void oneOomEventPerKillOnV2() throws Exception {
        Path d = v2("/pod/c2");
        AtomicInteger kills = new AtomicInteger();
        try (AutoCloseable watch = new Cgroups(root).watchOom("/pod/c2", kills::incrementAndGet)) {
            Thread.sleep(200);
            Files.writeString(d.resolve("memory.events"), "low 0\nhigh 0\nmax 9\noom 1\noom_kill 1\n");
            waitFor(kills, 1);
            Files.writeString(d.resolve("memory.events"), "low 0\nhigh 0\nmax 9\noom 3\noom_kill 3\n");
            waitFor(kills, 3);
            Thread.sleep(700);
            assertEquals(3, kills.get(), "no event without a kill");
        }
    }

    private static void waitFor(AtomicInteger n, int want) throws InterruptedException {
        for (int i = 0; i < 100 && n.get() < want; i++) {
            Thread.sleep(20);
        }
        assertEquals(want, n.get());
    }
}
