package io.nemu.e2e.template;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nemu.e2e.support.Containerd;
import io.nemu.e2e.support.CriEnv;
import io.nemu.e2e.support.Distribution;
import io.nemu.e2e.support.GuestImages;
import io.nemu.e2e.support.Leftovers;
import io.nemu.e2e.support.Rootfs;
import io.nemu.vmm.process.ProcessTools;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code [factory] enable_template = true} under a real containerd: the first {@code ctr run} builds the template
 * (a VM booted to a serving agent, then saved), every run after starts its sandbox as a copy-on-write clone of it.
 * Two clones must be their own: boot id, random bytes and hostname differ, and the clock is the host's.
 */
@Tag("system")
class TemplateCloneTest {
    private static final String RUNTIME = "io.containerd.nemu.v2";
    /** What the container prints: boot id, 16 random bytes, hostname, the guest's clock (epoch seconds). */
    private static final String IDENTITY = "cat /proc/sys/kernel/random/boot_id; head -c 16 /dev/urandom | od -An -tx1"
            + " | tr -d ' \\n'; echo; hostname; date +%s; echo done";
    @RegisterExtension
    static final Leftovers LEFTOVERS = Leftovers.afterEach();

    @TempDir
    Path work;
    private final Distribution dist = Distribution.locate();

    @Test
    void clonesRunContainersAndAreEachTheirOwn() throws Exception {
        GuestImages.assumeOfDistribution(dist, true);
        // On a tmpfs, as in production: the template's RAM is page cache every clone maps.
        Path templates = Path.of("/dev/shm/nemu-e2e-templates-" + ProcessHandle.current().pid());
        Path rootfs = Rootfs.busybox(work.resolve("rootfs"), "head", "od", "tr", "hostname", "date");
        Path config = dist.writeConfig(work, "", "dial_timeout = 180");
        Files.writeString(config, CriEnv.withTemplates(Files.readString(config), templates));
        try (Containerd c = LEFTOVERS.containerd(Containerd.builder().extraPath(dist.bin())
                .ctrTimeout(Duration.ofSeconds(300)).start())) {
            List<List<String>> outputs = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                String id = LEFTOVERS.sandbox("tpl" + i + "-" + ProcessHandle.current().pid());
                long t0 = System.nanoTime();
                Containerd.CtrResult r = c.ctr(Duration.ofSeconds(300), "run", "--rm", "--runtime", RUNTIME,
                        "--runtime-config-path", config.toString(), "--rootfs", rootfs.toString(), id,
                        "/bin/sh", "-c", IDENTITY);
                long hostNow = System.currentTimeMillis() / 1000;
                long ms = (System.nanoTime() - t0) / 1_000_000;
                System.out.println("FIGURE ctr run #" + i + (i == 0 ? " (builds the template)" : " (clone)") + ": exit "
                        + r.exitCode() + " in " + ms + " ms:\n" + r.stdout() + r.stderr());
                assertEquals(0, r.exitCode(), r.stderr() + c.logTail(60));
                List<String> lines = r.stdout().lines().toList();
                assertEquals("done", lines.get(lines.size() - 1), r.stdout());
                assertEquals(id, lines.get(2), "the sandbox's hostname is its id");
                long guestNow = Long.parseLong(lines.get(3).strip());
                assertTrue(Math.abs(guestNow - hostNow) < 30, "guest clock " + guestNow + " vs host " + hostNow);
                outputs.add(lines);
                Leftovers.await(() -> c.shimProcesses().isEmpty());
            }
            String log = Files.readString(c.logFile());
            assertEquals(3, log.split("cloning template", -1).length - 1, "every sandbox is a clone:\n" + c.logTail(80));
            assertEquals(1, log.split("building template", -1).length - 1, c.logTail(80));
            List<String> clone1 = outputs.get(1);
            List<String> clone2 = outputs.get(2);
            assertNotEquals(clone1.get(0), clone2.get(0), "boot ids");
            assertNotEquals(clone1.get(1), clone2.get(1), "random bytes");
            assertNotEquals(clone1.get(2), clone2.get(2), "hostnames");
            assertEquals(List.of(), c.shimProcesses());
            try (Stream<Path> s = Files.list(templates)) {
                System.out.println("templates: " + s.map(p -> p.getFileName().toString()).toList());
            }
        } finally {
            ProcessTools.deleteTree(templates);
        }
    }
}
