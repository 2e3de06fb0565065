import { describe, expect, it } from "vitest";
import { renderTable } from "../../src/cli/table.ts";

describe("renderTable", () => {
  it("folds each line break and the white space around it into one space", () => {
    const cells = ["a\n\nb", " a \n b ", "a\n", "\n\n", "a \n\t\n b", "a\r\nb", "plain   spaced"];
    const lines = renderTable(
      ["cell"],
      cells.map((cell) => [cell]),
    );
    expect(lines.slice(1)).toEqual(["a b", " a b", "a", "", "a b", "a b", "plain   spaced"]);
  });

  it("pads every column but the last to its widest cell", () => {
    expect(
      renderTable(
        ["id", "title"],
        [
          ["1", "first"],
          ["22", "second line\nof it"],
        ],
      ),
    ).toEqual(["id  title", "1   first", "22  second line of it"]);
  });

  it("takes linear time on a long run of spaces, with or without a break after it", () => {
    // With /\s*\n\s*/ each of these took minutes: the run was rescanned from each of its characters.
    const run = " ".repeat(256 * 1024);
    const lines = renderTable(["cell"], [[`x${run}y`], [`x${run}\n${run}y`]]);
    expect(lines[1]?.trimEnd()).toBe(`x${run}y`.trimEnd());
    expect(lines[2]).toBe("x y");
  });
});
