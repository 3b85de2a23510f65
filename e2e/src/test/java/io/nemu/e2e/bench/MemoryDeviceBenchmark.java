package io.nemu.e2e.bench;

import io.nemu.e2e.support.Distribution;
import io.nemu.e2e.support.FileTrees;
import io.nemu.e2e.support.GuestImages;
import io.nemu.firmware.GuestImage;
import io.nemu.vmm.Accelerator;
import io.nemu.vmm.AcceleratorProbe;
import io.nemu.vmm.HostCpu;
import io.nemu.vmm.MachineProfile;
import io.nemu.vmm.QemuCommandLine;
import io.nemu.vmm.VmConfig;
import io.nemu.vmm.process.ProcessTools;
import io.nemu.vmm.qmp.QmpClient;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.LongPredicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The two ways to give a running q35 guest 512 MiB, compared in the same guest: a {@code pc-dimm} (what the
 * runtime plugs, {@code vmm/hotplug/MemoryHotplug}) and a {@code virtio-mem-pci} device grown by
 * {@code qom-set requested-size}, then shrunk back to 0 (what only virtio-mem can do; the guest keeps the blocks it cannot empty). Each figure is the time from
 * the QMP request to the guest's MemTotal showing the change: the guest is the project's kernel and the modules of
 * its root initramfs, with an /init that prints MemTotal on the serial console whenever it changes (every 10 ms),
 * and {@code memhp_default_state=online} as the runtime boots q35. One fresh VM per run; the order of the two
 * devices alternates between runs. Run with scripts/bench-hotplug.sh (after the CRI figures) or alone:
 * {@code scripts/bench-reactor.sh MemoryDeviceBenchmark [--runs N]}.
 */
public final class MemoryDeviceBenchmark {
    static final long MIB = 1 << 20;
    static final long BASE_MIB = 512;
    static final long ADD_MIB = 512;
    static final String READY = "MEMBENCH-READY";
    static final Pattern MEM_LINE = Pattern.compile("MEMBENCH MemTotal: (\\d+) kB");
    /** MemTotal grows by a little less than the plugged size when the guest keeps struct pages for it. */
    static final long SLACK_KIB = 16 * 1024;
    static final Duration WAIT = Duration.ofSeconds(120);
    static final String VIRTIO_MEM = "/machine/peripheral/" + QemuCommandLine.VIRTIO_MEM_DEVICE;

    public static void main(String[] args) throws Exception {
        int runs = 3;
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--runs") && i + 1 < args.length) {
                runs = Integer.parseInt(args[++i]);
            } else {
                throw new IllegalArgumentException("unknown option " + args[i] + " (use --runs N)");
            }
        }
        GuestImage img = GuestImages.ofDistribution(Distribution.locate()).filter(g -> g.rootInitrd().isPresent())
                .orElseThrow(() -> new IllegalStateException("no guest image with a root initramfs: nemu image build"));
        Path work = Files.createTempDirectory("nemu-bench-memdev-");
        List<Long> dimm = new ArrayList<>();
        List<Long> grow = new ArrayList<>();
        List<Long> shrink = new ArrayList<>();
        List<Long> kept = new ArrayList<>();
        try {
            Path initrd = initramfs(img.rootInitrd().orElseThrow(), work.resolve("initrd"));
            for (int r = 0; r < runs; r++) {
                Run run = Run.start(img.kernel(), initrd, work.resolve("run-" + r));
                try {
                    long base = run.memTotalFrom(0, k -> true);
                    boolean dimmFirst = r % 2 == 0;
                    if (dimmFirst) {
                        base = plugDimm(run, base, dimm);
                    }
                    long target = base + ADD_MIB * 1024 - SLACK_KIB;
                    long grown = run.timed(grow, () -> run.qmp("qom-set", Map.of("path", VIRTIO_MEM,
                            "property", "requested-size", "value", ADD_MIB * MIB)), k -> k >= target);
                    long floor = grown - ADD_MIB * 1024 + SLACK_KIB;
                    long shrunk = run.timed(shrink, () -> run.qmp("qom-set", Map.of("path", VIRTIO_MEM,
                            "property", "requested-size", "value", 0)), k -> k <= floor);
                    kept.add((shrunk - base) / 1024);
                    if (!dimmFirst) {
                        plugDimm(run, shrunk, dimm);
                    }
                    System.out.printf("run %d (%s first): pc-dimm %d ms, virtio-mem grow %d ms, shrink %d ms;"
                                    + " MemTotal %d -> %d -> %d kB around virtio-mem%n", r + 1,
                            dimmFirst ? "pc-dimm" : "virtio-mem", dimm.get(r), grow.get(r), shrink.get(r), base, grown,
                            shrunk);
                } finally {
                    run.close();
                }
            }
        } finally {
            FileTrees.delete(work);
        }
        System.out.printf("512 MiB to a running q35 guest (1 vCPU, %d MiB at boot, TCG), request to MemTotal showing it,"
                + " medians of %d runs:%n", BASE_MIB, runs);
        System.out.printf("  pc-dimm (memfd, share=on) add:          %6d ms   %s%n", VmFloor.median(dimm), dimm);
        System.out.printf("  virtio-mem-pci requested-size 512 MiB:  %6d ms   %s%n", VmFloor.median(grow), grow);
        System.out.printf("  virtio-mem-pci back to 0 (shrink):      %6d ms   %s   (a pc-dimm cannot shrink)%n",
                VmFloor.median(shrink), shrink);
        System.out.printf("  of which the guest kept (could not unplug): %d MiB   %s%n", VmFloor.median(kept), kept);
    }

    /** A 512 MiB pc-dimm as the runtime plugs it; returns the guest's MemTotal once it shows it. */
    private static long plugDimm(Run run, long base, List<Long> times) throws Exception {
        long target = base + ADD_MIB * 1024 - SLACK_KIB;
        return run.timed(times, () -> {
            run.qmp("object-add", Map.of("qom-type", "memory-backend-memfd", "id", "hpmem0", "size", ADD_MIB * MIB,
                    "share", true));
            run.qmp("device_add", Map.of("driver", "pc-dimm", "id", "dimm0", "memdev", "hpmem0"));
        }, k -> k >= target);
    }

    private interface Request {
        void send() throws Exception;
    }

    /**
     * The guest image's root initramfs with its /init replaced: load the image's modules (virtio_mem among them),
     * say ready, print MemTotal when it changes.
     */
    static Path initramfs(Path rootInitrd, Path dir) throws Exception {
        Path tree = Files.createDirectories(dir.resolve("tree"));
        sh("lz4 -dc '" + rootInitrd + "' | (cd '" + tree + "' && cpio -idm --quiet)");
        String init = """
                #!/bin/sh
                export PATH=/usr/sbin:/usr/bin:/sbin:/bin
                mount -t proc proc /proc
                mount -t sysfs sysfs /sys
                MODDIR=/lib/modules/$(uname -r)
                while read -r mod; do [ -n "$mod" ] && insmod "$MODDIR/$mod" 2>/dev/null; done < "$MODDIR/nemu-modules.load"
                echo %s
                old=
                while :; do
                    n=$(grep MemTotal /proc/meminfo | tr -s ' ')
                    [ "$n" != "$old" ] && echo "MEMBENCH $n" && old=$n
                    usleep 10000
                done
                """.formatted(READY);
        Files.writeString(tree.resolve("init"), init);
        Path out = dir.resolve("membench.cpio");
        sh("cd '" + tree + "' && find . | cpio -o -H newc --quiet > '" + out + "'");
        return out;
    }

    private static void sh(String script) throws Exception {
        Process p = new ProcessBuilder("sh", "-c", script).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (p.waitFor() != 0) {
            throw new IOException("failed (" + p.exitValue() + "): " + script + "\n" + out);
        }
    }

    /** One q35 VM as the runtime's virt-hotplug profile makes it, plus an empty virtio-mem device. */
    private record Run(Process qemu, QmpClient qmp, Path serial, Path dir) implements AutoCloseable {
        static Run start(Path kernel, Path initrd, Path dir) throws Exception {
            Files.createDirectories(dir);
            Path serial = dir.resolve("serial.log");
            Path qmpSocket = dir.resolve("qmp.sock");
            Accelerator accel = AcceleratorProbe.choose(Accelerator.AUTO, VmConfig.DEFAULT_QEMU).accelerator();
            MachineProfile q35 = MachineProfile.virtHotplug();
            List<String> kargs = new ArrayList<>(QemuCommandLine.BASE_KERNEL_ARGS);
            kargs.add(QemuCommandLine.accelArg(accel));
            kargs.addAll(q35.kernelArgs(accel, HostCpu.tscKhz()));
            long maxmem = BASE_MIB + 2 * ADD_MIB;
            List<String> cmd = new ArrayList<>(List.of(VmConfig.DEFAULT_QEMU.toString(),
                    "-machine", "q35,acpi=on,sata=off,smbus=off,usb=off,vmport=off,i8042=off,memory-backend=mem",
                    "-object", "memory-backend-memfd,id=mem,size=" + BASE_MIB + "M,share=on",
                    "-m", BASE_MIB + "M,slots=2,maxmem=" + maxmem + "M", "-smp", "1",
                    "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
                    "-kernel", kernel.toString(), "-initrd", initrd.toString(),
                    "-append", String.join(" ", kargs), "-serial", "file:" + serial,
                    "-qmp", "unix:" + qmpSocket + ",server=on,wait=off",
                    "-accel", accel == Accelerator.KVM ? "kvm" : "tcg"));
            if (accel == Accelerator.KVM) {
                cmd.addAll(List.of("-cpu", "host"));
            }
            cmd.addAll(QemuCommandLine.virtioMemArgs(ADD_MIB));
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(dir.resolve("qemu.log").toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
            try {
                long deadline = System.nanoTime() + WAIT.toNanos();
                while (!Files.exists(qmpSocket)) {
                    alive(p, serial, dir, deadline, "its QMP socket");
                    Thread.sleep(5);
                }
                QmpClient qmp = QmpClient.connect(qmpSocket, WAIT).get(WAIT.toSeconds(), TimeUnit.SECONDS);
                Run run = new Run(p, qmp, serial, dir);
                while (!serialText(serial).contains(READY)) {
                    alive(p, serial, dir, deadline, READY);
                    Thread.sleep(10);
                }
                return run;
            } catch (Exception e) {
                ProcessTools.kill(p);
                throw e;
            }
        }

        void qmp(String command, Map<String, ?> arguments) throws Exception {
            qmp.execute(command, arguments).get(WAIT.toSeconds(), TimeUnit.SECONDS);
        }

        /**
         * Sends {@code request} and adds to {@code times} the ms until the guest prints a MemTotal that passes
         * {@code ok}; returns that MemTotal, kB.
         */
        long timed(List<Long> times, Request request, LongPredicate ok) throws Exception {
            int mark = serialText(serial).length();
            long t0 = System.nanoTime();
            request.send();
            long kb = memTotalFrom(mark, ok);
            times.add((System.nanoTime() - t0) / 1_000_000);
            return kb;
        }

        /** The first MemTotal the guest printed after {@code mark} (chars of its serial log) that passes {@code ok}, kB. */
        long memTotalFrom(int mark, LongPredicate ok) throws Exception {
            long deadline = System.nanoTime() + WAIT.toNanos();
            while (true) {
                String s = serialText(serial);
                Matcher m = MEM_LINE.matcher(s.substring(Math.min(mark, s.length())));
                while (m.find()) {
                    long kb = Long.parseLong(m.group(1));
                    if (ok.test(kb)) {
                        return kb;
                    }
                }
                alive(qemu, serial, dir, deadline, "a MemTotal line");
                Thread.sleep(2);
            }
        }

        private static String serialText(Path serial) throws IOException {
            return Files.exists(serial) ? Files.readString(serial, StandardCharsets.ISO_8859_1) : "";
        }

        private static void alive(Process p, Path serial, Path dir, long deadline, String what) throws IOException {
            if (!p.isAlive() || System.nanoTime() > deadline) {
                throw new IOException("no " + what + " (QEMU " + (p.isAlive() ? "still running" : "exit " + p.exitValue())
                        + "); serial ends:\n" + ProcessTools.tail(serial, 15) + "\nQEMU: "
                        + ProcessTools.tail(dir.resolve("qemu.log"), 5));
            }
        }

        @Override
        public void close() {
            qmp.close();
            ProcessTools.kill(qemu);
        }
    }
}
