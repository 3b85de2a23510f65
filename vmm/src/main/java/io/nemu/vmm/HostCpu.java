package io.nemu.vmm;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.OptionalLong;

/** Facts about the host CPU the command line needs. */
public final class HostCpu {
    private HostCpu() {
    }

    /** Host TSC rate in kHz, from /proc/cpuinfo ("cpu MHz"); empty when it cannot be read. */
    public static OptionalLong tscKhz() {
        try {
            return tscKhz(Files.readAllLines(Path.of("/proc/cpuinfo")));
        } catch (IOException e) {
            return OptionalLong.empty();
        }
    }

    static OptionalLong tscKhz(List<String> cpuinfo) {
        boolean constantTsc = false;
        double mhz = -1;
        for (String line : cpuinfo) {
            int colon = line.indexOf(':');
            if (colon < 0) {
                continue;
            }
            String key = line.substring(0, colon).trim();
            String value = line.substring(colon + 1).trim();
            if (key.equals("cpu MHz") && mhz < 0) {
                try {
                    mhz = Double.parseDouble(value);
                } catch (NumberFormatException e) {
                    return OptionalLong.empty();
                }
            } else if (key.equals("flags") && !constantTsc) {
                constantTsc = (" " + value + " ").contains(" constant_tsc ");
            }
        }
        // Without constant_tsc "cpu MHz" is the current clock, not the TSC rate.
        if (mhz <= 0 || !constantTsc) {
            return OptionalLong.empty();
        }
        return OptionalLong.of(Math.round(mhz * 1000));
    }
}
