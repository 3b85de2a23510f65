package io.nemu.shim.cli;

import io.nemu.shim.config.ConfigException;
import io.nemu.shim.sandbox.ConfiguredTemplate;
import io.nemu.shim.sandbox.SandboxPaths;
import io.nemu.vmm.VmException;
import io.nemu.vmm.template.Template;
import io.nemu.vmm.template.TemplateKey;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/** {@code nemu template build}: the template a pod of the configured default size would clone, made now. */
@Command(name = "build", mixinStandardHelpOptions = true,
        description = "Build the template of the configured default_vcpus, default_memory, machine profile and guest"
                + " image (the one a pod without sizing annotations clones), or say it is current. Boots its guest"
                + " to a ready agent and saves it (10-25 s under TCG). Root only. A pod starting meanwhile waits for"
                + " this build instead of making its own.")
final class TemplateBuildCommand implements Callable<Integer> {
    /** How often a line says the build is still under way. */
    private static final long PROGRESS_SECONDS = 5;

    @Spec
    CommandSpec spec;

    @ParentCommand
    TemplateCommand parent;

    @Option(names = "--nics", paramLabel = "N", defaultValue = "1",
            description = "NICs of the pods it is for (default: ${DEFAULT-VALUE}, a CRI pod's)")
    int nics;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        if (nics < 0 || nics > 255) {
            err.println("nemu template build: --nics must be 0..255, got " + nics);
            return 2;
        }
        if (!ExecCommand.root()) {
            err.println("nemu template build: must run as root (the template's guest runs in a network namespace of"
                    + " its own, and the store is the shim's)");
            return 1;
        }
        TemplateCommand.Loaded loaded;
        try {
            loaded = TemplateCommand.load(parent.config, err);
        } catch (ConfigException e) {
            err.println("nemu template build: " + e.getMessage());
            return 1;
        }
        String why = ConfiguredTemplate.unusable(loaded.cfg());
        if (why != null) {
            err.println("nemu template build: sandboxes of " + loaded.file() + " cannot be clones: " + why);
            return 1;
        }
        out.println(loaded.describe());
        if (!loaded.cfg().factory().enableTemplate()) {
            out.println("note: enable_template = false: pods boot without templates until it is true");
        }
        try {
            ConfiguredTemplate ct = ConfiguredTemplate.of(loaded.cfg(), SandboxPaths.defaultRoot());
            TemplateKey key = ct.key(nics);
            Optional<Template> found = ct.store().find(key);
            if (found.isPresent()) {
                out.println("template " + key.name() + " is current: nothing to build");
                print(out, found.get(), -1);
                return 0;
            }
            out.println("building template " + key.name() + " (" + nics + " NIC" + (nics == 1 ? "" : "s") + ") in "
                    + ct.store().dir() + ": " + ct.store().whyMissing(key));
            out.println("booting its guest to a ready agent (10-25 s under TCG) ...");
            out.flush();
            long t0 = System.nanoTime();
            Template t;
            ScheduledExecutorService ticker = Executors.newSingleThreadScheduledExecutor(r -> {
                Thread th = new Thread(r, "template-build-progress");
                th.setDaemon(true);
                return th;
            });
            try {
                ticker.scheduleAtFixedRate(() -> {
                    out.printf("  ... %d s%n", (System.nanoTime() - t0) / 1_000_000_000L);
                    out.flush();
                }, PROGRESS_SECONDS, PROGRESS_SECONDS, TimeUnit.SECONDS);
                t = ct.obtain(nics);
            } finally {
                ticker.shutdownNow();
            }
            print(out, t, System.nanoTime() - t0);
            return 0;
        } catch (IOException | VmException | IllegalArgumentException e) {
            err.println("nemu template build: " + e.getMessage());
            return 1;
        } finally {
            out.flush();
        }
    }

    private static void print(PrintWriter out, Template t, long buildNanos) throws IOException {
        if (buildNanos >= 0) {
            out.printf("built in %.1f s: %s%n", buildNanos / 1e9, t.dir());
        } else {
            out.println("  folder " + t.dir());
        }
        TemplateKey k = t.key();
        out.printf("  key: image %s, profile %s, %d vCPUs, %d MiB, configuration %s%n", k.imageId(), k.profile(),
                k.vcpus(), k.memoryMib(), k.configDigest().substring(0, 16));
        out.printf("  RAM file %s, state %d KiB%n", TemplateCommand.ram(t.memoryFile(), Files.size(t.memoryFile())),
                Files.size(t.stateFile()) >> 10);
    }
}
