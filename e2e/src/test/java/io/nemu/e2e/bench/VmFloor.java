package io.nemu.e2e.bench;

import io.nemu.e2e.support.FileTrees;
import io.nemu.firmware.GuestImage;
import io.nemu.vmm.Accelerator;
import io.nemu.vmm.MachineProfile;
import io.nemu.vmm.Vm;
import io.nemu.vmm.VmConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * The bare VM floor the runtime benchmarks compare with (the guest image booted to its ready line, virt),
 * and the median they report.
 */
public final class VmFloor {
    private VmFloor() {
    }

    /** Milliseconds from QEMU start to the guest's ready line, one entry per run. */
    public static List<Long> readyMillis(GuestImage img, int runs) throws Exception {
        List<Long> floor = new ArrayList<>();
        for (int i = 0; i < runs; i++) {
            Path run = Files.createTempDirectory(Path.of("/run"), "nemu-bench-vm-");
            try (Vm vm = new Vm(VmConfig.builder().profile(MachineProfile.virt()).kernel(img.kernel())
                    .initrd(img.initrd()).runDir(run).accelerator(Accelerator.AUTO).build())) {
                long t0 = System.nanoTime();
                vm.start();
                vm.waitForConsoleLine(Pattern.compile(Pattern.quote(img.readyLine())), Duration.ofSeconds(120));
                floor.add((System.nanoTime() - t0) / 1_000_000);
            } finally {
                FileTrees.delete(run);
            }
        }
        return floor;
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
