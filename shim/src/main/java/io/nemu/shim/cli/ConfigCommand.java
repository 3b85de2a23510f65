package io.nemu.shim.cli;

import io.nemu.shim.config.ConfigException;
import io.nemu.shim.config.ConfigLoader;
import io.nemu.shim.config.RuntimeConfig;
import io.nemu.vmm.QemuFeatures;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code nemu config check [FILE]}: reads a configuration.toml the way the shim does and prints the result. */
@Command(name = "config", description = "The runtime configuration (configuration.toml).", mixinStandardHelpOptions = true,
        subcommands = {ConfigCommand.Check.class})
public final class ConfigCommand {

    @Command(name = "check", mixinStandardHelpOptions = true,
            description = "Check a configuration.toml (default: NEMU_CONF_FILE, else the distribution's) and print"
                    + " the values the shim would use.")
    static final class Check implements Callable<Integer> {
        @Spec
        CommandSpec spec;

        @Parameters(arity = "0..1", paramLabel = "FILE", description = "The file to check.")
        Path file;

        @Override
        public Integer call() {
            PrintWriter out = spec.commandLine().getOut();
            PrintWriter err = spec.commandLine().getErr();
            List<String> warnings = new ArrayList<>();
            try {
                Path f = file != null ? file : ConfigLoader.locate(null, System.getenv());
                RuntimeConfig c = new ConfigLoader(warnings::add).load(f);
                warnings.forEach(w -> err.println("warning: " + w));
                RuntimeConfig.Hypervisor h = c.hypervisor();
                out.printf("%s: ok%n", f);
                out.printf("  qemu %s, machine %s, accelerator %s%n", h.path(), h.machineType().name(),
                        h.accelerator().name().toLowerCase());
                out.printf("  kernel %s%s%n", h.kernel(), Files.isRegularFile(h.kernel()) ? "" : "  (missing!)");
                Path root = h.image() != null ? h.image() : h.initrd();
                out.printf("  %s %s%s%n", h.image() != null ? "image" : "initrd", root,
                        Files.isRegularFile(root) ? "" : "  (missing!)");
                out.printf("  %d vCPU (max %d), %d MiB (max %d, %s), %d PCIe root ports%n", h.defaultVcpus(),
                        h.defaultMaxVcpus(), h.defaultMemoryMib(), h.defaultMaxMemoryMib(),
                        h.enableVirtioMem() ? "virtio-mem" : h.memorySlots() + " slots", h.pcieRootPorts());
                out.printf("  pod annotations allowed: %s%n", h.enableAnnotations().isEmpty() ? "none"
                        : String.join(", ", h.enableAnnotations().stream().map(java.util.regex.Pattern::pattern).toList()));
                out.printf("  shared_fs %s via %s (cache %s)%n", h.sharedFs().key(), h.virtioFsDaemon(),
                        h.virtioFsCache().option());
                out.printf("  QEMU seccomp sandbox %s%n", h.seccompSandbox() == null ? "off (seccompsandbox = \"\")"
                        : h.seccompSandbox() + (QemuFeatures.sandbox(h.path(), h.seccompSandbox()).supported() ? ""
                        : "  (this QEMU cannot apply it: sandboxes will not start!)"));
                out.printf("  agent dial timeout %d s; health check every %d s, dead after %d s; debug logs %s%n",
                        c.agent().dialTimeout().toSeconds(), c.agent().healthCheckInterval().toSeconds(),
                        c.agent().healthCheckTimeout().toSeconds(), c.runtime().enableDebug() ? "all" : c.hypervisor().enableDebug() ? "of the VM" : "off");
                return 0;
            } catch (ConfigException e) {
                warnings.forEach(w -> err.println("warning: " + w));
                err.println("nemu config check: " + e.getMessage());
                err.flush();
                return 1;
            }
        }
    }
}
