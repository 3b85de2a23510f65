package io.nemu.firmware.cli;

import io.nemu.firmware.FirmwareException;
import io.nemu.firmware.GuestPaths;
import io.nemu.firmware.ImageBuilder;
import io.nemu.firmware.InitramfsCompression;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code nemu image build}: builds the guest image from Debian packages. */
@Command(name = "build", mixinStandardHelpOptions = true,
        description = {"Build the guest image (vmlinux, vmlinuz, initramfs.img, manifest.json) from Debian",
                "packages fetched with apt-get. Does nothing when the image is up to date."})
public final class ImageBuildCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(names = {"-o", "--output"}, paramLabel = "DIR",
            description = "Image directory (default: $NEMU_HOME/share/guest, or packaging/target/nemu/share/guest"
                    + " in a source checkout).")
    Path output;

    @Option(names = "--cache", paramLabel = "DIR",
            description = "Where downloaded .deb files are kept (default: $NEMU_CACHE_DIR/debs or ~/.cache/nemu/debs).")
    Path cache;

    @Option(names = "--agent-jar", paramLabel = "JAR", description = "Guest agent jar to include, with crun and a jlink runtime"
            + " (default: the distribution's share/guest-agent/guest-agent.jar when it has one).")
    Path agentJar;

    @Option(names = "--no-agent", description = "Build an image without the guest agent (kernel, busybox, modules, /init).")
    boolean noAgent;

    @Option(names = "--agent-runtime", paramLabel = "DIR", description = "jlink runtime for the agent (default: the distribution's share/guest-agent/runtime when it"
            + " has one, else made with this JDK's jlink, cached).")
    Path agentRuntime;

    @Option(names = "--kernel-package", paramLabel = "NAME",
            description = "Kernel package (default: the newest linux-image-6.1.0-N-amd64 apt offers).")
    String kernelPackage;

    @Option(names = "--add-module", paramLabel = "NAME",
            description = "Another kernel module to load at boot (with its dependencies); repeatable.")
    java.util.List<String> extraModules = new java.util.ArrayList<>();

    @Option(names = "--compression", paramLabel = "ALG", defaultValue = "lz4",
            description = "Initramfs compression: gzip, zstd or lz4 (default: ${DEFAULT-VALUE}).")
    String compression;

    private static java.util.List<String> withExtra(java.util.List<String> extra) {
        java.util.List<String> all = new java.util.ArrayList<>(ImageBuilder.DEFAULT_MODULES);
        extra.stream().filter(m -> !all.contains(m)).forEach(all::add);
        return all;
    }

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        Path dir = output != null ? output : GuestPaths.defaultGuestDir().orElse(null);
        if (dir == null) {
            err.println("nemu image build: no --output given, NEMU_HOME is not set and this is not a source checkout");
            return 2;
        }
        InitramfsCompression comp;
        try {
            comp = InitramfsCompression.of(compression);
        } catch (IllegalArgumentException e) {
            err.println("nemu image build: --compression: " + e.getMessage());
            return 2;
        }
        Path agent = noAgent ? null : agentJar != null ? agentJar : GuestPaths.defaultAgentJar(dir).orElse(null);
        if (agent != null && agentJar == null) {
            out.println("guest agent: " + agent);
        }
        Path runtime = agentRuntime != null || agent == null ? agentRuntime
                : GuestPaths.defaultAgentRuntime(dir).orElse(null);
        if (runtime != null && agentRuntime == null) {
            out.println("guest agent runtime: " + runtime);
        }
        long t0 = System.nanoTime();
        try {
            ImageBuilder.Result r = ImageBuilder.builder()
                    .output(dir).cacheDir(cache).agentJar(agent).agentRuntime(runtime)
                    .kernelPackage(kernelPackage).compression(comp)
                    .modules(withExtra(extraModules))
                    .listener((step, total, what) -> {
                        out.printf("[%d/%d] %5.1fs  %s%n", step, total, (System.nanoTime() - t0) / 1e9, what);
                        out.flush();
                    })
                    .build().run();
            long ms = (System.nanoTime() - t0) / 1_000_000;
            if (!r.upToDate()) {
                r.manifest().outputs().forEach(o -> out.printf("  %-14s %,12d bytes  sha256 %s%n",
                        o.name(), o.size(), o.sha256()));
            }
            out.printf("%s guest image for kernel %s in %s (%d ms)%n", r.upToDate() ? "Kept" : "Built",
                    r.manifest().kernelRelease(), r.dir(), ms);
            return 0;
        } catch (FirmwareException e) {
            err.println("nemu image build: " + e.getMessage());
            return 1;
        }
    }
}
