package io.nemu.e2e.support;

import io.nemu.firmware.GuestImage;
import io.nemu.firmware.ImageBuilder;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;

/**
 * Every guest image the e2e tests boot, found or built in one place:
 * <ul>
 * <li>{@link #base()}: the plain image (VM tests, boot benchmark), built into {@code e2e/target/guest-image},
 * or {@code -Dnemu.guest.dir=DIR};</li>
 * <li>{@link #withAgent()}: the image with the guest agent (agent tests), built into
 * {@code e2e/target/guest-image-agent} from the shaded agent jar ({@code -Dnemu.agent.jar=JAR}, else
 * {@code guest-agent/target/guest-agent-*-all.jar}), or {@code -Dnemu.agent.guest.dir=DIR};</li>
 * <li>{@link #vsockGuest()}: the image running {@link VsockGuest}'s echo program (vsock tests and benchmark),
 * built into {@code e2e/target/vsock-guest-image};</li>
 * <li>{@link #ofDistribution(Distribution)}: the image {@code nemu image build} put into the built distribution
 * (shim, CRI and pod tests), never built here.</li>
 * </ul>
 * Builds share the machine's .deb cache, so only the first build on a machine downloads; an unchanged input
 * leaves an image up to date.
 */
public final class GuestImages {
    private GuestImages() {
    }

    public static synchronized GuestImage base() throws IOException {
        Optional<GuestImage> given = given("nemu.guest.dir");
        return given.isPresent() ? given.get() : build("guest-image", "guest image", b -> b);
    }

    public static synchronized GuestImage withAgent() throws IOException {
        Optional<GuestImage> given = given("nemu.agent.guest.dir");
        if (given.isPresent()) {
            return given.get();
        }
        Path jar = agentJar();
        // vsock_loopback: the test reaches the agent's vsock listener from inside the guest (CID 1), since
        // this host has no vsock device to offer the guest.
        List<String> modules = new ArrayList<>(ImageBuilder.DEFAULT_MODULES);
        modules.add("vsock_loopback");
        return build("guest-image-agent", "agent guest image with " + jar, b -> b.agentJar(jar).modules(modules));
    }

    public static synchronized GuestImage vsockGuest() throws IOException {
        Path jar = target().resolve("vsock-guest.jar");
        VsockGuest.writeJar(jar);
        return build("vsock-guest-image", "vsock guest image", b -> b.agentJar(jar));
    }

    /** The distribution's image (packaging/target/nemu/share/guest), if {@code nemu image build} made one. */
    public static Optional<GuestImage> ofDistribution(Distribution dist) {
        try {
            return Optional.of(GuestImage.load(dist.guestDir()));
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    /**
     * The distribution's image for a test that boots it: the test is skipped, saying how to get one, when there
     * is none or (with {@code agent}) when it has no guest agent.
     */
    public static GuestImage assumeOfDistribution(Distribution dist, boolean agent) {
        Optional<GuestImage> img = ofDistribution(dist);
        Assumptions.assumeTrue(img.isPresent(), "no guest image in " + dist.guestDir() + " (nemu image build)");
        Assumptions.assumeTrue(!agent || hasAgent(img.get()), "the guest image in " + dist.guestDir()
                + " has no guest agent");
        return img.get();
    }

    /** Whether the image carries the guest agent (its initramfs holds the agent's jar). */
    public static boolean hasAgent(GuestImage img) {
        String decompress = switch (img.manifest().compression().toString().toLowerCase()) {
            case "zstd" -> "zstd -dc";
            case "gzip" -> "gzip -dc";
            default -> "lz4 -dc";
        };
        try {
            Process p = new ProcessBuilder("sh", "-c", decompress + " '" + img.initrd()
                    + "' | cpio -it 2>/dev/null | grep -q 'opt/nemu/agent/agent.jar'")
                    .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            return p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    /** The shaded agent jar: {@code -Dnemu.agent.jar=JAR}, else the one {@code mvn -pl guest-agent package} made. */
    public static Path agentJar() throws IOException {
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

    private static Optional<GuestImage> given(String property) throws IOException {
        String dir = System.getProperty(property);
        return dir == null || dir.isBlank() ? Optional.empty() : Optional.of(GuestImage.load(Path.of(dir)));
    }

    /** {@code e2e/target}, or {@code -Dnemu.e2e.target} (the benchmark scripts run from the repository root). */
    private static Path target() {
        return Path.of(System.getProperty("nemu.e2e.target", "target")).toAbsolutePath();
    }

    private static GuestImage build(String dirName, String what, UnaryOperator<ImageBuilder.Builder> inputs)
            throws IOException {
        ImageBuilder.Result r = inputs.apply(ImageBuilder.builder().output(target().resolve(dirName)))
                .listener((step, total, doing) -> System.out.printf("%s [%d/%d] %s%n", dirName, step, total, doing))
                .build().run();
        System.out.println(what + " " + r.dir() + (r.upToDate() ? " (up to date)" : " (built)"));
        return GuestImage.load(r.dir());
    }
}
