package io.nemu.e2e.bench;

import io.nemu.contract.GuestContract;
import io.nemu.e2e.support.FileTrees;
import io.nemu.e2e.support.GuestImages;
import io.nemu.firmware.GuestImage;
import io.nemu.vmm.Accelerator;
import io.nemu.vmm.AcceleratorProbe;
import io.nemu.vmm.AgentTransport;
import io.nemu.vmm.MachineProfile;
import io.nemu.vmm.Vm;
import io.nemu.vmm.VmConfig;
import io.nemu.vmm.process.ProcessTools;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * Boot-to-ready of the sandbox VM on both profiles, next to the floor measured in the same run: plain
 * QEMU on the same machine type and kernel with a busybox-only initramfs that prints a marker. Also the
 * host RSS of QEMU and virtiofsd per VM once the guest is ready. Prints medians of {@code --runs} (3).
 *
 * <p>Run with scripts/bench-boot.sh. Options: {@code --runs N}, {@code --accel tcg|kvm|auto}.
 */
public final class BootBenchmark {
    private record Sample(long startMs, long readyMs, long qemuRssKib, long qemuShmemKib, long virtiofsdRssKib,
            long stopMs) {
    }

    public static void main(String[] args) throws Exception {
        int runs = 3;
        Accelerator accel = Accelerator.TCG;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--runs" -> runs = Integer.parseInt(args[++i]);
                case "--accel" -> accel = Accelerator.parse(args[++i]);
                default -> throw new IllegalArgumentException("unknown option " + args[i]
                        + " (use --runs N, --accel tcg|kvm|auto)");
            }
        }
        if (runs < 1) {
            throw new IllegalArgumentException("--runs must be >= 1");
        }
        GuestImage image = GuestImages.base();
        Accelerator resolved = AcceleratorProbe.choose(accel, VmConfig.DEFAULT_QEMU).accelerator();
        Path work = Files.createTempDirectory("nemu-bench");
        try {
            Path floorInitrd = VmFloor.busyboxInitramfs(work.resolve("floor.cpio"));
            System.out.printf("kernel %s (%s), initramfs %d KiB, floor initramfs %d KiB, accelerator %s, %d runs%n",
                    image.kernel(), image.kernelRelease(), Files.size(image.initrd()) / 1024,
                    Files.size(floorInitrd) / 1024, resolved.name().toLowerCase(), runs);
            List<String> rows = new ArrayList<>();
            for (MachineProfile profile : List.of(MachineProfile.virt(), MachineProfile.virtHotplug())) {
                long[] floor = new long[runs];
                long[] plain = new long[runs];
                List<Sample> samples = new ArrayList<>();
                for (int r = 0; r < runs; r++) {
                    floor[r] = VmFloor.bootMillis(profile, image.kernel(), floorInitrd, VmFloor.MARKER, resolved,
                            work.resolve(profile.name() + "-floor-" + r));
                    plain[r] = VmFloor.bootMillis(profile, image.kernel(), image.initrd(), image.readyLine(), resolved,
                            work.resolve(profile.name() + "-plain-" + r));
                    Sample s = vmBoot(profile, image, resolved, work.resolve(profile.name() + "-" + r));
                    samples.add(s);
                    System.out.printf("  %-13s run %d: floor %5d ms | plain QEMU + image %5d ms | nemu start() %4d ms, ready %5d ms, "
                                    + "QEMU RSS %4d MiB (guest RAM %4d), virtiofsd RSS %3d MiB, power-off %4d ms%n",
                            profile.name(), r + 1, floor[r], plain[r], s.startMs(), s.readyMs(), s.qemuRssKib() / 1024,
                            s.qemuShmemKib() / 1024, s.virtiofsdRssKib() / 1024, s.stopMs());
                }
                long f = median(floor);
                long ready = median(samples.stream().mapToLong(Sample::readyMs).toArray());
                rows.add(String.format("%-13s %9d %9d %9d %6.2f %9d %9d %9d %9d %9d", profile.name(), f,
                        median(plain), ready, (double) ready / f, median(samples.stream().mapToLong(Sample::startMs).toArray()),
                        median(samples.stream().mapToLong(Sample::qemuRssKib).toArray()) / 1024,
                        median(samples.stream().mapToLong(Sample::qemuShmemKib).toArray()) / 1024,
                        median(samples.stream().mapToLong(Sample::virtiofsdRssKib).toArray()) / 1024,
                        median(samples.stream().mapToLong(Sample::stopMs).toArray())));
            }
            System.out.println();
            System.out.println("medians of " + runs + " (ms, MiB)");
            System.out.println("floor: plain QEMU, busybox-only initramfs to its marker; plainImg: plain QEMU with"
                    + " the guest image to its ready line; ready: the nemu VM (virtiofsd, QMP, sandbox, devices)");
            System.out.printf("%-13s %9s %9s %9s %6s %9s %9s %9s %9s %9s%n", "profile", "floor", "plainImg", "ready",
                    "ratio",
                    "start()", "qemuRSS", "guestRAM", "vfsdRSS", "poweroff");
            rows.forEach(System.out::println);
        } finally {
            FileTrees.delete(work);
        }
    }

    /** Our VM: from before start() to the guest's ready line; RSS once ready; ACPI power-off to QEMU exit. */
    private static Sample vmBoot(MachineProfile profile, GuestImage image, Accelerator accel, Path dir)
            throws Exception {
        Path share = Files.createDirectories(dir.resolve("share"));
        VmConfig.Builder b = VmConfig.builder().profile(profile).kernel(image.kernel()).initrd(image.initrd())
                .accelerator(accel).vcpus(1).memoryMib(512).sharedDir(share).sharedTag(GuestContract.SHARED_FS_TAG).agentTransport(AgentTransport.SERIAL)
                .runDir(dir.resolve("run")).startTimeout(Duration.ofSeconds(30));
        if (profile.hotplug()) {
            b.maxVcpus(2).memorySlots(1).maxMemoryMib(1024).pciRootPorts(1);
        }
        Vm vm = new Vm(b.build());
        try {
            long t0 = System.nanoTime();
            vm.start();
            long started = System.nanoTime();
            vm.waitForConsoleLine(Pattern.compile(Pattern.quote(image.readyLine())), Duration.ofSeconds(120));
            long ready = System.nanoTime();
            long qemuRss = ProcessTools.rssKib(vm.pid());
            long qemuShmem = ProcessTools.procKib(vm.pid(), "status", "RssShmem");
            long vfsdRss = vm.virtiofsdPid().isPresent() ? ProcessTools.rssKib(vm.virtiofsdPid().getAsLong()) : 0;
            long s0 = System.nanoTime();
            Integer code = vm.stop(Duration.ofSeconds(30));
            long stopped = System.nanoTime();
            if (!Files.readString(vm.consoleLog(), StandardCharsets.ISO_8859_1).contains("powering off")) {
                System.out.println("  (guest did not power off by itself; QEMU exit " + code + ")");
            }
            return new Sample(ms(started - t0), ms(ready - t0), qemuRss, qemuShmem, vfsdRss, ms(stopped - s0));
        } finally {
            vm.stop(Duration.ZERO);
        }
    }

    private static long median(long[] v) {
        long[] s = v.clone();
        java.util.Arrays.sort(s);
        return s[s.length / 2];
    }

    private static long ms(long nanos) {
        return nanos / 1_000_000;
    }
}
