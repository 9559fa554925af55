/** A difference in points with its sign (+0.08, −1.10 as -1.10): how every bench table prints a change. */
export function signed(points: number, digits = 2): string {
  return `${points >= 0 ? '+' : ''}${points.toFixed(digits)}`;
}
