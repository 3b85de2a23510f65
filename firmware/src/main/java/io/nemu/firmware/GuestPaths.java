package io.nemu.firmware;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/** Where the guest image lives by default: the distribution's {@code share/guest}. */
public final class GuestPaths {
    private GuestPaths() {
    }

    /**
     * {@code $NEMU_HOME/share/guest} if NEMU_HOME is set; else, inside a source checkout (found upwards from
     * {@code start}), {@code packaging/target/nemu/share/guest}.
     */
    public static Optional<Path> defaultGuestDir(Path start) {
        String home = System.getenv("NEMU_HOME");
        if (home != null && !home.isBlank()) {
            return Optional.of(Path.of(home, "share", "guest"));
        }
        return repoRoot(start).map(r -> r.resolve("packaging/target/nemu/share/guest"));
    }

    public static Optional<Path> defaultGuestDir() {
        return defaultGuestDir(Path.of("").toAbsolutePath());
    }

    /** The nearest directory at or above {@code start} with a pom.xml and a packaging module. */
    public static Optional<Path> repoRoot(Path start) {
        for (Path p = start.toAbsolutePath().normalize(); p != null; p = p.getParent()) {
            if (Files.isRegularFile(p.resolve("pom.xml")) && Files.isDirectory(p.resolve("packaging"))
                    && Files.isDirectory(p.resolve("firmware"))) {
                return Optional.of(p);
            }
        }
        return Optional.empty();
    }
}
