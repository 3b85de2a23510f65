package io.nemu.e2e.support;

import io.nemu.vmm.process.ProcessTools;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * QEMU's proportional set size (KiB) split by what its mappings hold, from /proc/PID/smaps:
 * <ul>
 * <li>guest RAM: the RAM backends' memfd mappings ({@code /memfd:memory-backend-*}, shared; hotplugged DIMMs
 * too), or a private anonymous mapping, or a template's RAM file ({@code .../memory}, a clone's copy-on-write
 * mapping), exactly the size of {@code -m};</li>
 * <li>code cache: TCG's translation buffer, the only anonymous executable mapping QEMU makes (one rwx mapping
 * of {@code tb-size}, split at its region guard pages), or the {@code /memfd:tcg-jit} views with split-wx;</li>
 * <li>rest: everything else (binary, libraries, heap, device state, a file-backed NVDIMM image), taken as
 * smaps_rollup's Pss minus the two, so that the parts add up to the process figure.</li>
 * </ul>
 */
public record QemuPss(long totalKib, long guestRamKib, long codeCacheKib) {

    public long restKib() {
        return totalKib - guestRamKib - codeCacheKib;
    }

    /** A running QEMU's split; {@code ramKib} is its {@code -m} size (0: unknown, memfd mappings only). */
    public static QemuPss of(long pid, long ramKib) throws IOException {
        String smaps = Files.readString(Path.of("/proc", Long.toString(pid), "smaps"));
        long total = ProcessTools.procKib(pid, "smaps_rollup", "Pss");
        if (total < 0) {
            throw new IOException("no Pss in /proc/" + pid + "/smaps_rollup (QEMU gone?)");
        }
        QemuPss parts = parse(smaps, ramKib);
        return new QemuPss(total, parts.guestRamKib, parts.codeCacheKib);
    }

    /** The split of an smaps text; total is the sum of its Pss lines. */
    static QemuPss parse(String smaps, long ramKib) {
        long total = 0;
        long ram = 0;
        long code = 0;
        Kind kind = Kind.REST;
        for (String line : smaps.split("\n")) {
            if (isHeader(line)) {
                kind = classify(line);
            } else if (line.startsWith("Size:") && kind == Kind.ANON_RW) {
                kind = ramKib > 0 && kib(line) == ramKib ? Kind.RAM : Kind.REST;
            } else if (line.startsWith("Pss:")) {
                long pss = kib(line);
                total += pss;
                if (kind == Kind.RAM) {
                    ram += pss;
                } else if (kind == Kind.CODE) {
                    code += pss;
                }
            }
        }
        return new QemuPss(total, ram, code);
    }

    /** A template's RAM file ({@code <template>/memory}, private in a clone, shared in the template's build). */
    private static final java.util.regex.Pattern TEMPLATE_RAM = java.util.regex.Pattern.compile(".*/memory( \\(deleted\\))?");

    /** ANON_RW: an anonymous (or template RAM file) read-write mapping, guest RAM if its size is -m's. */
    private enum Kind { RAM, CODE, ANON_RW, REST }

    private static boolean isHeader(String line) {
        int dash = line.indexOf('-');
        int space = line.indexOf(' ');
        return dash > 0 && space > dash && line.substring(0, dash).chars().allMatch(c -> Character.digit(c, 16) >= 0);
    }

    private static Kind classify(String header) {
        String[] f = header.trim().split("\\s+", 6);
        String perms = f[1];
        String path = f.length > 5 ? f[5] : "";
        if (path.startsWith("/memfd:tcg-jit")) {
            return Kind.CODE;
        } else if (path.startsWith("/memfd:memory-backend")) {
            return Kind.RAM;
        } else if (path.isEmpty() && perms.charAt(2) == 'x') {
            return Kind.CODE;
        } else if (perms.startsWith("rw") && (path.isEmpty() || TEMPLATE_RAM.matcher(path).matches())) {
            return Kind.ANON_RW;
        }
        return Kind.REST;
    }

    private static long kib(String line) {
        String[] f = line.trim().split("\\s+");
        return Long.parseLong(f[1]);
    }
}
