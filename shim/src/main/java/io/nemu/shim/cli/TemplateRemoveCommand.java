package io.nemu.shim.cli;

import io.nemu.shim.config.ConfigException;
import io.nemu.shim.sandbox.ConfiguredTemplate;
import io.nemu.shim.sandbox.SandboxPaths;
import io.nemu.vmm.VmException;
import io.nemu.vmm.template.StoredTemplate;
import io.nemu.vmm.template.TemplateStore;
import java.io.IOException;
import java.io.PrintWriter;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/** {@code nemu template remove}: one template, or all, out of the store. */
@Command(name = "remove", mixinStandardHelpOptions = true,
        description = "Remove a template (NAME, as listed) or all of them from the store; a template being built is"
                + " refused. Safe while sandboxes cloned from it run: each clone maps the RAM file privately, and"
                + " Linux keeps a removed file's pages while a mapping holds them (on a tmpfs its space comes back"
                + " when the last such clone ends). The next pod (or nemu template build) makes it again. Root only.")
final class TemplateRemoveCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @ParentCommand
    TemplateCommand parent;

    @ArgGroup(multiplicity = "1")
    Which which;

    static final class Which {
        @Parameters(paramLabel = "NAME", description = "the template's name (nemu template list)")
        String name;

        @Option(names = "--all", description = "every template in the store")
        boolean all;
    }

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        if (!ExecCommand.root()) {
            err.println("nemu template remove: must run as root (the store is the shim's)");
            return 1;
        }
        try {
            TemplateCommand.Loaded loaded = TemplateCommand.load(parent.config, err);
            TemplateStore store = ConfiguredTemplate.store(loaded.cfg(), SandboxPaths.defaultRoot());
            // Read once: the names for --all, and each one's RAM file for its line.
            Map<String, StoredTemplate> stored = new LinkedHashMap<>();
            store.list().forEach(t -> stored.put(t.name(), t));
            List<String> names = which.all ? List.copyOf(stored.keySet()) : List.of(which.name);
            int failed = 0;
            for (String name : names) {
                try {
                    StoredTemplate t = stored.get(name);
                    String ram = t == null ? "none" : TemplateCommand.ram(t.memoryFile(), t.memoryBytes());
                    if (store.remove(name)) {
                        out.println("removed template " + name + " (RAM file " + ram + ")");
                    } else {
                        err.println("nemu template remove: no template " + name + " in " + store.dir());
                        failed++;
                    }
                } catch (IOException | IllegalArgumentException e) {
                    err.println("nemu template remove: " + e.getMessage());
                    failed++;
                }
            }
            if (which.all) {
                out.println("store " + store.dir() + ": " + (names.size() - failed) + " removed"
                        + (failed > 0 ? ", " + failed + " not" : ""));
            }
            return failed == 0 ? 0 : 1;
        } catch (ConfigException | IOException | VmException e) {
            err.println("nemu template remove: " + e.getMessage());
            return 1;
        } finally {
            out.flush();
        }
    }
}
