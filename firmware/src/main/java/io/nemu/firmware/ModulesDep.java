package io.nemu.firmware;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.Reader;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The module dependency table in depmod's {@code modules.dep} format: one line per module,
 * {@code path: dep-path dep-path ...}, paths relative to {@code /lib/modules/REL}.
 */
public final class ModulesDep {

    /** Resolved modules in load order (dependencies first), and the requested ones the kernel has built in. */
    public record Resolution(List<String> loadOrder, List<String> builtin) {
        public Resolution {
            loadOrder = List.copyOf(loadOrder);
            builtin = List.copyOf(builtin);
        }
    }

    private final Map<String, List<String>> depsByPath;   // path -> direct dependency paths
    private final Map<String, String> pathByName;         // normalized module name -> path

    public ModulesDep(Map<String, List<String>> depsByPath) {
        this.depsByPath = new LinkedHashMap<>();
        this.pathByName = new LinkedHashMap<>();
        depsByPath.forEach((path, deps) -> {
            this.depsByPath.put(path, List.copyOf(deps));
            this.pathByName.put(moduleName(path), path);
        });
    }

    /** Parses {@code modules.dep} text; a malformed line is an error naming its number. */
    public static ModulesDep parse(Reader reader) throws IOException {
        Map<String, List<String>> deps = new LinkedHashMap<>();
        BufferedReader in = new BufferedReader(reader);
        int lineNo = 0;
        for (String line; (line = in.readLine()) != null; ) {
            lineNo++;
            if (line.isBlank() || line.startsWith("#")) {
                continue;
            }
            int colon = line.indexOf(':');
            if (colon <= 0) {
                throw new FirmwareException("modules.dep line " + lineNo + " has no 'module:' prefix: " + line);
            }
            String path = line.substring(0, colon).trim();
            String rest = line.substring(colon + 1).trim();
            deps.put(path, rest.isEmpty() ? List.of() : List.of(rest.split("\\s+")));
        }
        return new ModulesDep(deps);
    }

    /** This table in {@code modules.dep} format, limited to {@code paths} (in their order). */
    public String format(Collection<String> paths) {
        StringBuilder sb = new StringBuilder();
        for (String p : paths) {
            List<String> deps = depsByPath.get(p);
            if (deps == null) {
                throw new IllegalArgumentException("not in modules.dep: " + p);
            }
            sb.append(p).append(':');
            for (String d : deps) {
                sb.append(' ').append(d);
            }
            sb.append('\n');
        }
        return sb.toString();
    }

    public Set<String> paths() {
        return depsByPath.keySet();
    }

    /**
     * Orders the requested modules and all they depend on so that each comes after its dependencies.
     * A requested name found in {@code builtinNames} (from modules.builtin) needs no loading; a name in
     * neither is an error, as is a dependency cycle or a dependency that is not in the table.
     */
    public Resolution resolve(List<String> requested, Set<String> builtinNames) throws FirmwareException {
        Set<String> builtinNorm = new HashSet<>();
        builtinNames.forEach(n -> builtinNorm.add(normalize(n)));
        List<String> builtin = new ArrayList<>();
        LinkedHashSet<String> order = new LinkedHashSet<>();
        List<String> missing = new ArrayList<>();
        for (String name : requested) {
            String n = normalize(name);
            String path = pathByName.get(n);
            if (path != null) {
                visit(path, order, new LinkedHashSet<>());
            } else if (builtinNorm.contains(n)) {
                builtin.add(name);
            } else {
                missing.add(name);
            }
        }
        if (!missing.isEmpty()) {
            throw new FirmwareException("kernel modules not found (neither in modules.dep nor modules.builtin): "
                    + String.join(", ", missing));
        }
        return new Resolution(new ArrayList<>(order), builtin);
    }

    private void visit(String path, LinkedHashSet<String> order, LinkedHashSet<String> stack)
            throws FirmwareException {
        if (order.contains(path)) {
            return;
        }
        if (!stack.add(path)) {
            throw new FirmwareException("module dependency cycle: " + String.join(" -> ", stack) + " -> " + path);
        }
        List<String> deps = depsByPath.get(path);
        if (deps == null) {
            throw new FirmwareException("module " + path + " is needed by " + String.join(" <- ", stack)
                    + " but is not in modules.dep");
        }
        // modules.dep lists the full closure with the nearest first; loading from the end keeps order.
        for (String d : deps) {
            visit(d, order, stack);
        }
        stack.remove(path);
        order.add(path);
    }

    /** {@code kernel/drivers/virtio/virtio_pci.ko} -> {@code virtio_pci}. */
    public static String moduleName(String path) {
        String base = path.substring(path.lastIndexOf('/') + 1);
        int dot = base.indexOf(".ko");
        return normalize(dot >= 0 ? base.substring(0, dot) : base);
    }

    /** Module names treat '-' and '_' alike. */
    static String normalize(String name) {
        return name.replace('-', '_');
    }
}
