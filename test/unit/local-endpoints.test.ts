import { describe, expect, it } from 'vitest';
import { commandPrefix } from '../../infra/local/endpoints.ts';

describe('the command prefix other terminals need', () => {
  it('is empty at the defaults', () => {
    expect(commandPrefix({})).toBe('');
  });

  it('names every variable that differs from its default, as npm start printed them', () => {
    expect(
      commandPrefix({
        PORT: '4300',
        DYNAMODB_PORT: '8300',
        CRONOFY_API_PORT: '4350',
        TABLE_NAME: 'cronofy-newb',
      }),
    ).toBe('PORT=4300 DYNAMODB_PORT=8300 CRONOFY_API_PORT=4350 TABLE_NAME=cronofy-newb ');
  });
});
