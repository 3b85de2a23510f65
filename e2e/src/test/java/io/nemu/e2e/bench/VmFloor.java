package io.nemu.e2e.bench;

import io.nemu.firmware.GuestImage;
import io.nemu.vmm.Accelerator;
import io.nemu.vmm.AcceleratorProbe;
import io.nemu.vmm.HostCpu;
import io.nemu.vmm.MachineProfile;
import io.nemu.vmm.QemuCommandLine;
import io.nemu.vmm.VmConfig;
import io.nemu.vmm.process.ProcessTools;
import java.io.File;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;
import java.util.concurrent.TimeUnit;
import org.apache.commons.compress.archivers.cpio.CpioArchiveEntry;
import org.apache.commons.compress.archivers.cpio.CpioArchiveOutputStream;
import org.apache.commons.compress.archivers.cpio.CpioConstants;

/**
 * The bare boot floor the runtime benchmarks compare with: plain QEMU (no virtiofsd, QMP, sandbox or
 * devices) booting the guest kernel with a busybox-only initramfs whose /init prints a marker, not the
 * project's image (that already carries the costs being measured). Also the median they report.
 */
public final class VmFloor {
    static final String MARKER = "NEMU-FLOOR-MARKER";

    private VmFloor() {
    }

    /** Milliseconds from QEMU exec to the floor's marker, one entry per run: virt, the accelerator of {@code auto}. */
    public static List<Long> readyMillis(GuestImage img, int runs) throws Exception {
        Accelerator accel = AcceleratorProbe.choose(Accelerator.AUTO, VmConfig.DEFAULT_QEMU).accelerator();
        Path work = Files.createTempDirectory("nemu-floor-");
        try {
            Path initrd = busyboxInitramfs(work.resolve("floor.cpio"));
            List<Long> floor = new ArrayList<>();
            for (int i = 0; i < runs; i++) {
                floor.add(bootMillis(MachineProfile.virt(), img.kernel(), initrd, MARKER, accel, work.resolve("run-" + i)));
            }
            return floor;
        } finally {
            io.nemu.e2e.support.FileTrees.delete(work);
        }
    }

    /**
     * Plain QEMU on the profile's machine type with {@code kernel} and {@code initrd}: time from exec to
     * {@code marker} on the serial console. QEMU is killed once the marker shows (the guest's way down is
     * not part of the floor).
     */
    public static long bootMillis(MachineProfile profile, Path kernel, Path initrd, String marker, Accelerator accel,
            Path dir) throws Exception {
        Files.createDirectories(dir);
        Path serial = dir.resolve("serial.log");
        Files.deleteIfExists(serial);
        OptionalLong tsc = HostCpu.tscKhz();
        List<String> kargs = new ArrayList<>(QemuCommandLine.BASE_KERNEL_ARGS);
        kargs.add(QemuCommandLine.accelArg(accel));
        kargs.addAll(profile.kernelArgs(accel, tsc));
        String machine = profile.hotplug() ? "q35" : "microvm,acpi=on,pic=off,pit=off,x-option-roms=off,rtc=on";
        List<String> cmd = new ArrayList<>(List.of(VmConfig.DEFAULT_QEMU.toString(), "-machine", machine,
                "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot", "-m", "512M",
                "-kernel", kernel.toString(), "-initrd", initrd.toString(),
                "-append", String.join(" ", kargs), "-serial", "file:" + serial));
        if (accel == Accelerator.KVM) {
            cmd.addAll(List.of("-accel", "kvm", "-cpu", "host"));
        } else {
            cmd.addAll(List.of("-accel", "tcg"));
        }
        long t0 = System.nanoTime();
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectOutput(dir.resolve("qemu.log").toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
        try {
            long deadline = t0 + TimeUnit.SECONDS.toNanos(120);
            while (true) {
                if (Files.exists(serial) && Files.readString(serial, StandardCharsets.ISO_8859_1).contains(marker)) {
                    return (System.nanoTime() - t0) / 1_000_000;
                }
                if (!p.isAlive() || System.nanoTime() > deadline) {
                    throw new IOException("floor boot gave no marker (QEMU " + (p.isAlive() ? "still running" : "exit "
                            + p.exitValue()) + "); serial ends:\n" + ProcessTools.tail(serial, 15) + "\nQEMU: "
                            + ProcessTools.tail(dir.resolve("qemu.log"), 5));
                }
                Thread.sleep(5);
            }
        } finally {
            ProcessTools.kill(p);
        }
    }

    /** newc cpio: static busybox as /bin/busybox, /dev/console, and an /init that prints {@link #MARKER}. */
    public static Path busyboxInitramfs(Path out) throws IOException {
        Path busybox = Path.of("/bin/busybox");
        if (!Files.isRegularFile(busybox)) {
            throw new IOException("the floor needs a static busybox at /bin/busybox (apt-get install busybox-static)");
        }
        String init = "#!/bin/busybox sh\n/bin/busybox echo " + MARKER + "\n/bin/busybox poweroff -f\n";
        try (OutputStream os = Files.newOutputStream(out);
                CpioArchiveOutputStream cpio = new CpioArchiveOutputStream(os, CpioConstants.FORMAT_NEW)) {
            dir(cpio, "bin");
            dir(cpio, "dev");
            CpioArchiveEntry console = new CpioArchiveEntry(CpioConstants.FORMAT_NEW, "dev/console");
            console.setMode(CpioConstants.C_ISCHR | 0600);
            console.setRemoteDeviceMaj(5);
            console.setRemoteDeviceMin(1);
            console.setNumberOfLinks(1);
            cpio.putArchiveEntry(console);
            cpio.closeArchiveEntry();
            file(cpio, "bin/busybox", Files.readAllBytes(busybox));
            file(cpio, "init", init.getBytes(StandardCharsets.US_ASCII));
            cpio.finish();
        }
        return out;
    }

    private static void dir(CpioArchiveOutputStream cpio, String name) throws IOException {
        CpioArchiveEntry e = new CpioArchiveEntry(CpioConstants.FORMAT_NEW, name);
        e.setMode(CpioConstants.C_ISDIR | 0755);
        e.setNumberOfLinks(2);
        cpio.putArchiveEntry(e);
        cpio.closeArchiveEntry();
    }

    private static void file(CpioArchiveOutputStream cpio, String name, byte[] data) throws IOException {
        CpioArchiveEntry e = new CpioArchiveEntry(CpioConstants.FORMAT_NEW, name, data.length);
        e.setMode(CpioConstants.C_ISREG | 0755);
        e.setNumberOfLinks(1);
        cpio.putArchiveEntry(e);
        cpio.write(data);
        cpio.closeArchiveEntry();
    }

    /** The median of the figures (the upper one of an even count), -1 for none. */
    public static long median(List<Long> v) {
        if (v.isEmpty()) {
            return -1;
        }
        List<Long> s = new ArrayList<>(v);
        java.util.Collections.sort(s);
        return s.get(s.size() / 2);
    }
}
