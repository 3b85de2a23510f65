package io.nemu.vmm.template;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Optional;

/**
 * A template folder as found in a {@link TemplateStore}, for the operator ({@code nemu template list}).
 *
 * @param dir         its folder, named {@link TemplateKey#name()}
 * @param memoryBytes size of its RAM file (0 when it is missing)
 * @param saved       when its state was saved; null when it has none (an incomplete folder)
 * @param config      the settings its key was made from ({@link TemplateKey#describe}); empty for a template saved
 *                    before they were kept
 */
public record StoredTemplate(Path dir, long memoryBytes, Instant saved, List<String> config) {
    /** The settings file beside the template's RAM and state. */
    static final String CONFIG = "config";

    public StoredTemplate {
        config = List.copyOf(config);
    }

    static StoredTemplate read(Path dir) throws IOException {
        Path memory = dir.resolve(Template.MEMORY);
        Path state = dir.resolve(Template.STATE);
        Path config = dir.resolve(CONFIG);
        return new StoredTemplate(dir, Files.isRegularFile(memory) ? Files.size(memory) : 0,
                Files.isRegularFile(state) ? Files.getLastModifiedTime(state).toInstant() : null,
                Files.isRegularFile(config) ? Files.readAllLines(config) : List.of());
    }

    public Path memoryFile() {
        return dir.resolve(Template.MEMORY);
    }

    public String name() {
        return dir.getFileName().toString();
    }

    /** Whether its RAM and state are both there (a clone can start from it). */
    public boolean complete() {
        return saved != null && memoryBytes > 0;
    }

    /** How many NICs it was saved with, if its settings say. */
    public Optional<Integer> nics() {
        return config.stream().filter(l -> l.startsWith("nics ")).findFirst()
                .map(l -> Integer.parseInt(l.split(" ")[1]));
    }

    /** The names of its settings that differ from {@code current} (another config's {@link TemplateKey#describe}). */
    public List<String> changedSettings(List<String> current) {
        return config.stream().filter(l -> !current.contains(l)).map(l -> l.split(" ", 2)[0]).distinct().toList();
    }
}
