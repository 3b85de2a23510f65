package io.nemu.shim.cli.check;

import java.util.List;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Free memory for one sandbox of the default size: the guest's RAM plus what QEMU, virtiofsd and the shim take. */
final class MemoryCheck {
    /** Beyond the guest's RAM (the RuntimeClass overhead, 640 MiB for a 512 MiB guest, measured by bench-cri). */
    static final long HOST_SIDE_MIB = 128;
    private static final Pattern AVAILABLE = Pattern.compile("(?m)^MemAvailable:\\s+(\\d+) kB");

    private MemoryCheck() {
    }

    static List<CheckResult> run(CheckContext c) {
        if (c.config() == null) {
            return List.of();
        }
        Optional<Long> availableMib = c.host().read("/proc/meminfo").map(AVAILABLE::matcher).filter(Matcher::find)
                .map(m -> Long.parseLong(m.group(1)) / 1024);
        long need = c.config().hypervisor().defaultMemoryMib() + HOST_SIDE_MIB;
        if (availableMib.isEmpty()) {
            return List.of(CheckResult.warn("memory", "no MemAvailable in /proc/meminfo", null));
        }
        long have = availableMib.get();
        String d = have + " MiB available, one default sandbox takes ~" + need + " MiB (default_memory "
                + c.config().hypervisor().defaultMemoryMib() + " + " + HOST_SIDE_MIB + " on the host side)";
        if (have < need) {
            return List.of(CheckResult.fail("memory", d, "free memory or lower default_memory"));
        }
        if (have < 2 * need) {
            return List.of(CheckResult.warn("memory", d + ": room for one", "more memory for more pods"));
        }
        return List.of(CheckResult.pass("memory", d + ": room for ~" + have / need));
    }
}
