package io.nemu.e2e.shim;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nemu.e2e.support.Containerd;
import io.nemu.e2e.support.Distribution;
import io.nemu.e2e.support.GuestImages;
import io.nemu.e2e.support.Leftovers;
import io.nemu.e2e.support.QemuMemory;
import io.nemu.e2e.support.Rootfs;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Host memory of one running pod (ctr run -d, busybox sleeping, the guest agent serving) with
 * {@code reclaim_guest_freed_memory} off and on: QEMU's RSS and its guest-RAM part (the memfd, RssShmem)
 * some seconds after the container started. With free page reporting the guest's freed RAM must be back.
 */
@Tag("system")
class PodMemoryTest {
    private static final String RUNTIME = "io.containerd.nemu.v2";
    private static final Duration RUN = Duration.ofSeconds(180);
    /** The guest reports ~2 s after pages are freed; TCG is slow. */
    private static final Duration SETTLE = Duration.ofSeconds(15);
    @RegisterExtension
    static final Leftovers LEFTOVERS = Leftovers.afterEach();

    @TempDir
    Path work;
    private final Distribution dist = Distribution.locate();

    @Test
    @Timeout(value = 15, unit = TimeUnit.MINUTES) // two pods, one after the other, each up to RUN to start
    void freePageReportingGivesFreedGuestRamBack() throws Exception {
        GuestImages.assumeOfDistribution(dist, true);
        QemuMemory off = pod(false);
        QemuMemory on = pod(true);
        System.out.printf("FIGURE pod, reclaim_guest_freed_memory = false: %s%n", off);
        System.out.printf("FIGURE pod, reclaim_guest_freed_memory = true:  %s%n", on);
        assertTrue(on.shmemKib() < off.shmemKib() - 64 * 1024, on + " is not well below " + off);
    }

    private QemuMemory pod(boolean reclaim) throws Exception {
        Path dir = Files.createDirectories(work.resolve("reclaim-" + reclaim));
        Path config = dist.writeConfig(dir, "reclaim_guest_freed_memory = " + reclaim, "dial_timeout = 90");
        Path rootfs = Rootfs.busybox(dir.resolve("rootfs"));
        String id = LEFTOVERS.sandbox("mem" + (reclaim ? "1" : "0"));
        try (Containerd c = LEFTOVERS.containerd(Containerd.builder().extraPath(dist.bin()).ctrTimeout(RUN).start())) {
            c.ctr(RUN, "run", "-d", "--runtime", RUNTIME, "--runtime-config-path", config.toString(),
                    "--rootfs", rootfs.toString(), id, "/bin/sleep", "600").requireOk();
            try {
                Thread.sleep(SETTLE.toMillis());
                String ls = c.ctr("task", "ls").requireOk().stdout();
                Matcher m = Pattern.compile("(?m)^" + id + "\\s+(\\d+)\\s+RUNNING").matcher(ls);
                assertTrue(m.find(), id + " is not running: " + ls);
                long qemu = Long.parseLong(m.group(1));
                assertTrue(ProcessHandle.of(qemu).flatMap(h -> h.info().command()).orElse("").contains("qemu"),
                        "task pid " + qemu + " is not QEMU");
                QemuMemory mem = QemuMemory.of(qemu);
                System.out.printf("reclaim_guest_freed_memory = %s: %s%n", reclaim, mem);
                return mem;
            } finally {
                c.forceRemove(id);
            }
        }
    }
}
