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
import io.nemu.firmware.Sha256;
import io.nemu.vmm.process.ProcessTools;
import io.nemu.vmm.template.TemplateRam;
import java.io.IOException;
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
 * Two clones must be their own: boot id, random bytes and hostname differ, and the clock is the host's. A clone
 * that frees memory must not discard any of its RAM (QEMU traces each discard): on QEMU 7.2 that punches the template's
 * file, under every clone, and the file's digest must stay as it was. The zero pages a clone's faults add to that
 * file are punched out when it ends.
 */
@Tag("system")
class TemplateCloneTest {
    private static final String RUNTIME = "io.containerd.nemu.v2";
    /** What the container prints: boot id, 16 random bytes, hostname, the guest's clock (epoch seconds). */
    private static final String IDENTITY = "cat /proc/sys/kernel/random/boot_id; head -c 16 /dev/urandom | od -An -tx1"
            + " | tr -d ' \\n'; echo; hostname; date +%s; echo done";
    /**
     * What the second run does first: 60 MiB written to its tmpfs and freed, then time for the guest's free page
     * reporting (2 s after the free) to hand the pages back, which must not reach the template's file.
     */
    private static final String CHURN = "dd if=/dev/zero of=/dev/shm/churn bs=1M count=60 2>/dev/null;"
            + " rm /dev/shm/churn; sleep 6; ";
    @RegisterExtension
    static final Leftovers LEFTOVERS = Leftovers.afterEach();

    @TempDir
    Path work;
    private final Distribution dist = Distribution.locate();

    /** QEMU, its RAM discards traced to {@code traces/clone.PID} for a clone ({@code -incoming}), else boot.PID. */
    private static Path tracingQemu(Path traces) throws IOException {
        Path qemu = traces.resolve("qemu-tracing");
        Files.writeString(qemu, "#!/bin/sh\ncase \"$*\" in *-incoming*) kind=clone;; *) kind=boot;; esac\n"
                + "exec /usr/bin/qemu-system-x86_64 -trace \"ram_block_discard_range,file=" + traces + "/$kind.$$\" \"$@\"\n");
        qemu.toFile().setExecutable(true);
        return qemu;
    }

    private static Path templateMemory(Path templates) throws IOException {
        try (Stream<Path> s = Files.list(templates)) {
            return s.filter(Files::isDirectory).map(d -> d.resolve("memory")).filter(Files::isRegularFile)
                    .findFirst().orElseThrow(() -> new AssertionError("no template in " + templates));
        }
    }

    @Test
    void clonesRunContainersAndAreEachTheirOwn() throws Exception {
        GuestImages.assumeOfDistribution(dist, true);
        // On a tmpfs, as in production: the template's RAM is page cache every clone maps.
        Path templates = Path.of("/dev/shm/nemu-e2e-templates-" + ProcessHandle.current().pid());
        Path rootfs = Rootfs.busybox(work.resolve("rootfs"), "head", "od", "tr", "hostname", "date", "dd", "rm");
        Path traces = Files.createDirectories(work.resolve("traces"));
        Path config = dist.writeConfig(work, "path = \"" + tracingQemu(traces) + "\"", "dial_timeout = 180");
        Files.writeString(config, CriEnv.withTemplates(Files.readString(config), templates));
        try (Containerd c = LEFTOVERS.containerd(Containerd.builder().extraPath(dist.bin())
                .ctrTimeout(Duration.ofSeconds(300)).start())) {
            List<List<String>> outputs = new ArrayList<>();
            List<String> digests = new ArrayList<>();
            long heldAfterFirst = 0;
            for (int i = 0; i < 3; i++) {
                String id = LEFTOVERS.sandbox("tpl" + i + "-" + ProcessHandle.current().pid());
                long t0 = System.nanoTime();
                Containerd.CtrResult r = c.ctr(Duration.ofSeconds(300), "run", "--rm", "--runtime", RUNTIME,
                        "--runtime-config-path", config.toString(), "--rootfs", rootfs.toString(), id,
                        "/bin/sh", "-c", (i == 1 ? CHURN : "") + IDENTITY);
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
                // A clone's RAM is private: whatever it did, the template's file is as it was saved.
                String digest = Sha256.of(templateMemory(templates));
                long held = TemplateRam.heldBytes(templateMemory(templates)).orElseThrow() >> 20;
                System.out.println("template RAM after run #" + i + ": sha256 " + digest + ", " + held + " MiB held");
                if (i > 0) {
                    assertEquals(digests.get(0), digest, "the template's RAM file changed during clone run #" + i);
                    // The churn's 60 MiB landed in the file as zero pages; the clone's end punched them out.
                    assertTrue(held <= heldAfterFirst + 8, "template RAM held " + held + " MiB after run #" + i
                            + ", " + heldAfterFirst + " MiB after run #0");
                } else {
                    heldAfterFirst = held;
                }
                digests.add(digest);
            }
            String log = Files.readString(c.logFile());
            assertEquals(3, log.split("cloning template", -1).length - 1, "every sandbox is a clone:\n" + c.logTail(80));
            assertEquals(1, log.split("building template", -1).length - 1, c.logTail(80));
            try (Stream<Path> s = Files.list(traces)) {
                List<Path> clones = s.filter(p -> p.getFileName().toString().startsWith("clone.")).toList();
                assertEquals(3, clones.size(), "one discard trace per clone: " + clones);
                for (Path t : clones) {
                    assertEquals("", Files.readString(t), "a clone discarded RAM (" + t + ")");
                }
            }
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
