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
     * the system property {@code nemu.repo}, which scripts/nemu sets, or from {@code start}),
     * {@code packaging/target/nemu/share/guest}.
     */
    public static Optional<Path> defaultGuestDir(Path start) {
        String home = System.getenv("NEMU_HOME");
        if (home != null && !home.isBlank()) {
            return Optional.of(Path.of(home, "share", "guest"));
        }
        String repo = System.getProperty("nemu.repo");
        Path from = repo != null && !repo.isBlank() ? Path.of(repo) : start;
        return repoRoot(from).map(r -> r.resolve("packaging/target/nemu/share/guest"));
    }

    public static Optional<Path> defaultGuestDir() {
        return defaultGuestDir(Path.of("").toAbsolutePath());
    }

    /** The guest agent jar the distribution ships beside its guest image: {@code share/guest-agent/guest-agent.jar}. */
    public static Optional<Path> defaultAgentJar(Path guestDir) {
        Path jar = guestDir.toAbsolutePath().resolveSibling("guest-agent").resolve("guest-agent.jar");
        return Files.isRegularFile(jar) ? Optional.of(jar) : Optional.empty();
    }

    /**
     * The agent's Java runtime a release tarball ships beside the agent jar ({@code share/guest-agent/runtime}): a
     * host without a JDK has no jlink to make one.
     */
    public static Optional<Path> defaultAgentRuntime(Path guestDir) {
        Path rt = guestDir.toAbsolutePath().resolveSibling("guest-agent").resolve("runtime");
        return Files.isExecutable(rt.resolve("bin/java")) ? Optional.of(rt) : Optional.empty();
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
