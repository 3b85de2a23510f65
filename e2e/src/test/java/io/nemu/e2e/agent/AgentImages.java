package io.nemu.e2e.agent;

import io.nemu.firmware.GuestImage;
import io.nemu.firmware.ImageBuilder;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * The guest image with the agent: built into {@code e2e/target/guest-image-agent} from the shaded agent jar
 * ({@code -Dnemu.agent.jar=JAR}, else {@code guest-agent/target/guest-agent-*-all.jar} of this checkout,
 * made by {@code mvn -pl guest-agent package}); {@code -Dnemu.agent.guest.dir=DIR} uses a ready image.
 */
final class AgentImages {
    private AgentImages() {
    }

    static synchronized GuestImage get() throws IOException {
        String given = System.getProperty("nemu.agent.guest.dir");
        if (given != null && !given.isBlank()) {
            return GuestImage.load(Path.of(given));
        }
        Path jar = agentJar();
        Path out = Path.of(System.getProperty("nemu.e2e.target", "target")).toAbsolutePath().resolve("guest-image-agent");
        // vsock_loopback: the test reaches the agent's vsock listener from inside the guest (CID 1), since
        // this host has no vsock device to offer the guest.
        List<String> modules = new ArrayList<>(ImageBuilder.DEFAULT_MODULES);
        modules.add("vsock_loopback");
        ImageBuilder.Result r = ImageBuilder.builder().output(out).agentJar(jar).modules(modules)
                .listener((step, total, what) -> System.out.printf("image [%d/%d] %s%n", step, total, what))
                .build().run();
        System.out.println("agent guest image " + r.dir() + (r.upToDate() ? " (up to date)" : " (built)") + " with " + jar);
        return GuestImage.load(r.dir());
    }

    static Path agentJar() throws IOException {
        String given = System.getProperty("nemu.agent.jar");
        if (given != null && !given.isBlank()) {
            Path p = Path.of(given);
            if (!Files.isRegularFile(p)) {
                throw new IOException("-Dnemu.agent.jar=" + given + ": no such file");
            }
            return p;
        }
        Path target = Path.of("").toAbsolutePath().resolveSibling("guest-agent").resolve("target");
        if (Files.isDirectory(target)) {
            try (Stream<Path> s = Files.list(target)) {
                var found = s.filter(p -> p.getFileName().toString().matches("guest-agent-.*-all\\.jar")).findFirst();
                if (found.isPresent()) {
                    return found.get();
                }
            }
        }
        throw new IOException("no agent jar in " + target + ": run `mvn -pl guest-agent package` first, or pass "
                + "-Dnemu.agent.jar=JAR");
    }
}
