package io.nemu.shim.cli;

import io.nemu.shim.config.ConfigException;
import io.nemu.shim.sandbox.ConfiguredTemplate;
import io.nemu.shim.sandbox.SandboxPaths;
import io.nemu.vmm.VmException;
import io.nemu.vmm.template.StoredTemplate;
import io.nemu.vmm.template.TemplateKey;
import io.nemu.vmm.template.TemplateStore;
import java.io.IOException;
import java.io.PrintWriter;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/** {@code nemu template list}: the store's templates, each current for this configuration or stale. */
@Command(name = "list", mixinStandardHelpOptions = true,
        description = "List the templates in the store: name, shape (profile, vCPUs, memory, NICs), NICs, whether current"
                + " for this configuration (a pod of that NIC count and the default size clones it) or stale (and"
                + " which settings changed), RAM file size, age.")
final class TemplateListCommand implements Callable<Integer> {
    private static final String FORMAT = "%-36s %-16s %4s  %-9s %16s %8s  %s%n";
    /** NIC counts tried for a template saved without its settings (how many NICs it has is then unknown). */
    private static final int GUESSED_NICS = 8;

    @Spec
    CommandSpec spec;

    @ParentCommand
    TemplateCommand parent;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        try {
            TemplateCommand.Loaded loaded = TemplateCommand.load(parent.config, err);
            out.println(loaded.describe());
            ConfiguredTemplate ct = null;
            String unusable = ConfiguredTemplate.unusable(loaded.cfg());
            String keyless = null;
            try {
                ct = ConfiguredTemplate.of(loaded.cfg(), SandboxPaths.defaultRoot());
            } catch (IOException | VmException | IllegalArgumentException e) {
                keyless = e.getMessage();
            }
            if (unusable != null) {
                out.println("templating cannot be used with this configuration: " + unusable);
            } else if (keyless != null) {
                out.println("the configuration gives no template key (so none is current): " + keyless);
            }
            TemplateStore store = ConfiguredTemplate.store(loaded.cfg(), SandboxPaths.defaultRoot());
            List<StoredTemplate> all = store.list();
            out.println("store " + store.dir() + ": " + all.size() + " template" + (all.size() == 1 ? "" : "s"));
            if (all.isEmpty()) {
                return keyless == null ? 0 : 1;
            }
            out.printf(FORMAT, "NAME", "SHAPE", "NICS", "STATUS", "RAM", "AGE", "");
            Instant now = Instant.now();
            for (StoredTemplate t : all) {
                Integer nics = t.nics().orElse(null);
                out.printf(FORMAT, t.name(), shape(t.name()), nics == null ? "?" : nics.toString(),
                        status(t, ct, unusable), TemplateCommand.ram(t.memoryFile(), t.memoryBytes()),
                        t.saved() == null ? "-" : PsCommand.uptime(Duration.between(t.saved(), now)), why(t, ct));
            }
            return keyless == null ? 0 : 1;
        } catch (ConfigException | IOException e) {
            err.println("nemu template list: " + e.getMessage());
            return 1;
        } finally {
            out.flush();
        }
    }

    /** The shape part of a template's name ({@link TemplateKey#name()}: the shape, then 16 hex digits). */
    private static String shape(String name) {
        int dash = name.lastIndexOf('-');
        return dash > 0 ? name.substring(0, dash) : name;
    }

    private static String status(StoredTemplate t, ConfiguredTemplate ct, String unusable) throws IOException {
        if (!t.complete()) {
            return "incomplete";
        }
        if (unusable != null) {
            return "unused";
        }
        if (ct == null) {
            return "?";
        }
        List<Integer> counts = t.nics().map(List::of)
                .orElseGet(() -> java.util.stream.IntStream.rangeClosed(0, GUESSED_NICS).boxed().toList());
        for (int n : counts) {
            if (ct.key(n).name().equals(t.name())) {
                return "current";
            }
        }
        return "stale";
    }

    /** For a stale template of known settings: which of them changed since it was built. */
    private static String why(StoredTemplate t, ConfiguredTemplate ct) throws IOException {
        if (ct == null || t.nics().isEmpty() || ct.key(t.nics().get()).name().equals(t.name())) {
            return "";
        }
        List<String> changed = t.changedSettings(ct.settings(t.nics().get()));
        return changed.isEmpty() ? "(image or size changed)" : "(changed: " + String.join(", ", changed) + ")";
    }
}
