package io.nemu.firmware;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The shared libraries that dynamically linked guest programs (crun, the agent's java) need, taken from
 * unpacked Debian library packages: {@code ldd} resolves each program with only those packages (and the
 * program's own directories) on the library path, and every library it names must come from them.
 */
final class SharedLibraries {

    private static final Pattern ARROW = Pattern.compile("^\\s*(\\S+)\\s+=>\\s+(\\S+)\\s+\\(0x[0-9a-f]+\\)\\s*$");
    private static final Pattern DIRECT = Pattern.compile("^\\s*(/\\S+)\\s+\\(0x[0-9a-f]+\\)\\s*$");
    private static final Pattern NOT_FOUND = Pattern.compile("^\\s*(\\S+)\\s+=>\\s+not found\\s*$");

    private SharedLibraries() {
    }

    /** Library dirs of a Debian amd64 root, in ld.so's order. */
    static List<Path> libDirs(Path root) {
        return List.of(root.resolve("lib/x86_64-linux-gnu"), root.resolve("usr/lib/x86_64-linux-gnu"));
    }

    /**
     * Paths relative to {@code libRoot} of every library (and the symlinks leading to it) that {@code programs}
     * load. {@code ownDirs} are searched too and the libraries found there are left out (they ship with the
     * program, e.g. a jlink runtime's lib/).
     */
    static TreeSet<String> resolve(Path libRoot, List<Path> programs, List<Path> ownDirs) throws IOException {
        List<String> path = new ArrayList<>();
        libDirs(libRoot).forEach(d -> path.add(d.toString()));
        ownDirs.forEach(d -> path.add(d.toString()));
        TreeSet<String> needed = new TreeSet<>();
        for (Path program : programs) {
            ProcessBuilder pb = new ProcessBuilder("ldd", program.toString());
            Proc.Result r = runWith(pb, Map.of("LD_LIBRARY_PATH", String.join(":", path)));
            if (r.exitCode() != 0) {
                throw new FirmwareException("ldd " + program + " failed: " + r.lastErrorLine());
            }
            for (String line : r.stdout().split("\n")) {
                Matcher nf = NOT_FOUND.matcher(line);
                if (nf.matches()) {
                    throw new FirmwareException("library " + nf.group(1) + " needed by " + program
                            + " is in none of the library packages unpacked into " + libRoot);
                }
                String lib = null;
                Matcher m = ARROW.matcher(line);
                if (m.matches()) {
                    lib = m.group(2);
                } else {
                    Matcher d = DIRECT.matcher(line);
                    if (d.matches()) {
                        lib = d.group(1);
                    }
                }
                if (lib == null) {
                    continue; // linux-vdso and the like
                }
                Path p = Path.of(lib).normalize();
                if (ownDirs.stream().anyMatch(p::startsWith)) {
                    continue;
                }
                if (p.startsWith(libRoot)) {
                    addWithLinks(libRoot, p, needed);
                } else if (p.toString().startsWith("/lib64/ld-linux") || p.toString().startsWith("/lib/x86_64-linux-gnu/ld-linux")) {
                    // The program interpreter is taken by its absolute path; ship the packaged one.
                    Path packaged = libRoot.resolve(p.toString().substring(1));
                    if (!Files.exists(packaged)) {
                        throw new FirmwareException("dynamic loader " + p + " is not in the libc6 package in " + libRoot);
                    }
                    addWithLinks(libRoot, packaged, needed);
                } else {
                    throw new FirmwareException("library " + p + " needed by " + program.getFileName()
                            + " comes from the host, not from the library packages; add its package");
                }
            }
        }
        return needed;
    }

    private static void addWithLinks(Path root, Path p, TreeSet<String> out) throws IOException {
        Path cur = p;
        for (int hops = 0; hops < 10; hops++) {
            out.add(root.relativize(cur).toString());
            if (!Files.isSymbolicLink(cur)) {
                return;
            }
            Path target = Files.readSymbolicLink(cur);
            cur = target.isAbsolute() ? root.resolve(target.toString().substring(1)) : cur.resolveSibling(target);
            cur = cur.normalize();
            if (!cur.startsWith(root)) {
                throw new FirmwareException("symlink " + p + " leads out of " + root);
            }
        }
        throw new FirmwareException("too many symlinks from " + p);
    }

    private static Proc.Result runWith(ProcessBuilder pb, Map<String, String> env) throws FirmwareException {
        return Proc.run(pb.command(), null, "libc-bin", env);
    }
}
