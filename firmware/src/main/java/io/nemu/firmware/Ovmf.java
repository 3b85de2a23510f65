package io.nemu.firmware;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Objects;

/**
 * Debian's OVMF (package {@code ovmf}): the read-only UEFI code and the template of the variable store.
 * Every sandbox gets its own copy of the vars, since the firmware writes to them.
 *
 * @param code OVMF_CODE (pflash unit 0, readonly=on)
 * @param vars the pristine OVMF_VARS template matching {@code code} (never handed to QEMU itself)
 */
public record Ovmf(Path code, Path vars) {

    public static final Path DEFAULT_DIR = Path.of("/usr/share/OVMF");

    /** Code/vars pairs in order of preference: 4 MiB non-secure-boot first (the 2 MiB build is the legacy one). */
    private static final List<String[]> PAIRS = List.of(
            new String[] {"OVMF_CODE_4M.fd", "OVMF_VARS_4M.fd"},
            new String[] {"OVMF_CODE.fd", "OVMF_VARS.fd"});

    public static final String VARS_COPY_NAME = "OVMF_VARS.fd";

    public Ovmf {
        Objects.requireNonNull(code, "code");
        Objects.requireNonNull(vars, "vars");
    }

    public static Ovmf locate() throws FirmwareException {
        return locate(DEFAULT_DIR);
    }

    /** Finds a matching code/vars pair in {@code dir}. */
    public static Ovmf locate(Path dir) throws FirmwareException {
        for (String[] pair : PAIRS) {
            Path code = dir.resolve(pair[0]);
            Path vars = dir.resolve(pair[1]);
            if (Files.isRegularFile(code) && Files.isRegularFile(vars)) {
                if (!Files.isReadable(code) || !Files.isReadable(vars)) {
                    throw new FirmwareException("OVMF files in " + dir + " are not readable");
                }
                return new Ovmf(code, vars);
            }
        }
        throw new FirmwareException("OVMF is not installed: no OVMF_CODE*.fd with its OVMF_VARS*.fd in " + dir
                + " (apt-get install ovmf)");
    }

    /** Copies the vars template to {@code sandboxDir/OVMF_VARS.fd} (replacing an old copy) and returns it. */
    public Path copyVarsFor(Path sandboxDir) throws IOException {
        Files.createDirectories(sandboxDir);
        Path dst = sandboxDir.resolve(VARS_COPY_NAME);
        Path tmp = sandboxDir.resolve(VARS_COPY_NAME + ".tmp");
        try {
            Files.copy(vars, tmp, StandardCopyOption.REPLACE_EXISTING);
            // The template is read-only (0644 root); the copy must be writable by QEMU.
            tmp.toFile().setWritable(true, true);
            Files.move(tmp, dst, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            Files.deleteIfExists(tmp);
            throw DiskSpace.explain(e, dst);
        }
        return dst;
    }
}
