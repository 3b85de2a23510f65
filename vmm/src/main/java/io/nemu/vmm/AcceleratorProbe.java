package io.nemu.vmm;

import io.nemu.vmm.process.ProcessTools;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Chooses KVM or TCG. {@code /dev/kvm} alone is not enough: some nested hypervisors expose it but
 * cannot run a normal guest with the host CPU model. The probe boots {@link ProbeKernel} under KVM
 * with {@code -cpu host} (the CPU model a KVM VM gets) and needs it to print and exit on its own.
 */
public final class AcceleratorProbe {
    private static final Logger log = LoggerFactory.getLogger(AcceleratorProbe.class);
    private static final Path DEV_KVM = Path.of("/dev/kvm");
    private static final String MARKER = "nemu-kvm-probe-ok";
    private static final Map<Path, KvmCheck> CACHE = new ConcurrentHashMap<>();

    /** Outcome of the KVM probe. */
    public record KvmCheck(boolean usable, String detail) {
    }

    /** The accelerator chosen and why. */
    public record Choice(Accelerator accelerator, String reason) {
    }

    private AcceleratorProbe() {
    }

    /** Resolves AUTO by the probe; KVM asked explicitly must pass the probe too. */
    public static Choice choose(Accelerator requested, Path qemu) {
        Choice c = switch (requested) {
            case TCG -> new Choice(Accelerator.TCG, "tcg requested");
            case KVM -> {
                KvmCheck k = kvm(qemu);
                if (!k.usable()) {
                    throw new VmConfigException("accelerator", "kvm requested but KVM cannot run a guest here: "
                            + k.detail());
                }
                yield new Choice(Accelerator.KVM, "kvm requested; " + k.detail());
            }
            case AUTO -> {
                KvmCheck k = kvm(qemu);
                yield k.usable() ? new Choice(Accelerator.KVM, k.detail())
                        : new Choice(Accelerator.TCG, "KVM unusable (" + k.detail() + "), using TCG");
            }
        };
        log.info("accelerator {}: {}", c.accelerator().name().toLowerCase(), c.reason());
        return c;
    }

    /** The probe result for this QEMU binary, run once per binary. */
    public static KvmCheck kvm(Path qemu) {
        return CACHE.computeIfAbsent(qemu.toAbsolutePath(), q -> probeKvm(q, Duration.ofSeconds(5)));
    }

    /** Runs the probe now (no cache). */
    public static KvmCheck probeKvm(Path qemu, Duration timeout) {
        if (!Files.exists(DEV_KVM)) {
            return new KvmCheck(false, "/dev/kvm does not exist");
        }
        if (!Files.isReadable(DEV_KVM) || !Files.isWritable(DEV_KVM)) {
            return new KvmCheck(false, "/dev/kvm is not accessible to this user");
        }
        Path dir = null;
        try {
            dir = Files.createTempDirectory("nemu-kvm-probe");
            Path kernel = ProbeKernel.write(dir.resolve("probe.elf"), MARKER + "\n", true);
            Path serial = dir.resolve("serial.txt");
            Path err = dir.resolve("stderr.txt");
            List<String> cmd = List.of(qemu.toString(),
                    "-accel", "kvm", "-cpu", "host",
                    "-machine", "microvm,x-option-roms=off,pit=off,pic=off,rtc=off,isa-serial=on",
                    "-nodefaults", "-no-user-config", "-display", "none", "-m", "32",
                    "-kernel", kernel.toString(),
                    "-serial", "file:" + serial,
                    "-device", "isa-debug-exit,iobase=0x" + Integer.toHexString(ProbeKernel.DEBUG_EXIT_PORT)
                            + ",iosize=0x04");
            ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
                    .redirectOutput(err.toFile()).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
            long t0 = System.nanoTime();
            Process p = pb.start();
            Integer rc = ProcessTools.waitFor(p, timeout);
            long ms = (System.nanoTime() - t0) / 1_000_000;
            if (rc == null) {
                ProcessTools.kill(p);
                return new KvmCheck(false, "probe guest did not finish within " + timeout.toMillis() + " ms");
            }
            String out = Files.exists(serial) ? Files.readString(serial, StandardCharsets.ISO_8859_1) : "";
            if (rc == ProbeKernel.EXPECTED_QEMU_EXIT && out.contains(MARKER)) {
                return new KvmCheck(true, "KVM ran the probe guest in " + ms + " ms");
            }
            String tail = ProcessTools.tail(err, 3).replace('\n', ' ').trim();
            return new KvmCheck(false, "probe guest failed under KVM with -cpu host (exit " + rc
                    + (tail.isEmpty() ? "" : ": " + tail) + ")");
        } catch (IOException e) {
            return new KvmCheck(false, "probe could not run " + qemu + ": " + e.getMessage());
        } finally {
            ProcessTools.deleteTree(dir);
        }
    }
}
