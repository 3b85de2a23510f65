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
 * Host memory of one running pod (ctr run -d, the guest agent serving) with {@code reclaim_guest_freed_memory}
 * off and on: QEMU's RSS and its guest-RAM part (the memfd, RssShmem) some seconds after the container started.
 * The container first holds {@link #FILL_MB} MB in a shell variable, then execs sleep, which frees them: with
 * free page reporting that guest RAM must be back on the host. (The guest root no longer passes through guest
 * RAM, so the boot alone frees too little to tell.)
 */
@Tag("system")
class PodMemoryTest {
    private static final String RUNTIME = "io.containerd.nemu.v2";
    private static final Duration RUN = Duration.ofSeconds(180);
    /** The guest reports ~2 s after pages are freed; TCG is slow. */
    private static final Duration SETTLE = Duration.ofSeconds(15);
    private static final int FILL_MB = 128;
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
        Path rootfs = Rootfs.busybox(dir.resolve("rootfs"), "head", "tr");
        String id = LEFTOVERS.sandbox("mem" + (reclaim ? "1" : "0"));
        try (Containerd c = LEFTOVERS.containerd(Containerd.builder().extraPath(dist.bin()).ctrTimeout(RUN).start())) {
            c.ctr(RUN, "run", "-d", "--runtime", RUNTIME, "--runtime-config-path", config.toString(),
                    "--rootfs", rootfs.toString(), id, "/bin/sh", "-c",
                    "x=$(head -c " + FILL_MB * 1_000_000 + " /dev/zero | tr '\\0' a); echo ${#x} > /filled; exec sleep 600")
                    .requireOk();
            try {
                Path filled = rootfs.resolve("filled");
                long deadline = System.nanoTime() + RUN.toNanos();
                while (!Files.exists(filled) && System.nanoTime() < deadline) {
                    Thread.sleep(200);
                }
                assertTrue(Files.exists(filled), "the container did not fill its " + FILL_MB + " MB in " + RUN);
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
