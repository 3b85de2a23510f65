package io.nemu.shim.cli;

import io.nemu.shim.config.ConfigException;
import io.nemu.shim.config.ConfigLoader;
import io.nemu.shim.config.RuntimeConfig;
import io.nemu.vmm.template.TemplateRam;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.OptionalLong;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ScopeType;

/**
 * {@code nemu template}: the operator's side of VM templates ({@code [factory] enable_template}), as Kata's
 * {@code kata-runtime factory init|status|destroy}: build one ahead of the first pod, list them, remove them.
 */
@Command(name = "template", mixinStandardHelpOptions = true,
        description = "VM templates ([factory] enable_template): a sandbox starts as a copy-on-write clone of a"
                + " template VM booted once to a ready agent, one per guest image, machine profile, vCPUs, memory,"
                + " NIC count and configuration. A pod makes its template on first use; these commands build one"
                + " ahead, list them and remove them.",
        subcommands = {TemplateBuildCommand.class, TemplateListCommand.class, TemplateRemoveCommand.class})
final class TemplateCommand {
    @Option(names = "--config", paramLabel = "FILE", scope = ScopeType.INHERIT,
            description = "configuration.toml (default: as the shim finds it: NEMU_CONF_FILE, else the distribution's)")
    Path config;

    /** The configuration as the shim would load it (a file given here wins); its warnings go to {@code err}. */
    static Loaded load(Path file, PrintWriter err) throws ConfigException {
        Path located = file != null ? file : ConfigLoader.locate(null, System.getenv());
        RuntimeConfig cfg = new ConfigLoader(w -> err.println("warning: " + w)).load(located);
        return new Loaded(located, cfg);
    }

    record Loaded(Path file, RuntimeConfig cfg) {
        /** One line: where the configuration is and the size its templates are for. */
        String describe() {
            RuntimeConfig.Hypervisor h = cfg.hypervisor();
            return "configuration " + file + ": profile " + h.machineType().name() + ", default_vcpus "
                    + h.defaultVcpus() + ", default_memory " + h.defaultMemoryMib() + " MiB, enable_template "
                    + cfg.factory().enableTemplate();
        }
    }

    static String mib(long bytes) {
        return (bytes >> 20) + " MiB";
    }

    /**
     * A template's RAM file as "{@code <held> of <size> MiB}": the pages the file holds (on a tmpfs, memory) of the
     * guest's RAM size; only the size when {@code stat} cannot say.
     */
    static String ram(Path memory, long size) {
        OptionalLong held = TemplateRam.heldBytes(memory);
        return held.isPresent() ? (held.getAsLong() >> 20) + " of " + mib(size) : mib(size);
    }
}
